import AttrGuardCore
import AttrGuardNN

/// The attribution methods of the evaluation, all batched: x [B,C,H,W] → attributions [B,C,H,W].
public enum AttributionMethod: String, Sendable, CaseIterable {
    /// ∇ₓ target
    case saliency
    /// x ⊙ mean of ∇ₓ target along the straight path from a zero baseline (m steps)
    case integratedGradients = "integrated_gradients"
    /// mean of ∇ₓ target at x + n, n ~ N(0, σ²), σ = noise·(x_max − x_min)
    case smoothGrad = "smoothgrad"
    /// x ⊙ ∇ₓ target
    case gradientTimesInput = "gradient_x_input"
}

/// What the attribution methods need: the target, IG path steps, SmoothGrad samples and noise, the input range.
public struct AttributionSettings: Sendable {
    public var target: AttributionTarget = .logit
    public var igSteps = 50
    public var smoothGradSamples = 50
    public var smoothGradNoise = 0.15
    public var range = PixelRange()
    public init() {}
}

/// Attributions of `method` for the batch; with `createGraph` they stay on the tape (attacks
/// differentiate them with respect to x). SmoothGrad's noise comes from `noise`.
public func attribute(_ method: AttributionMethod, _ model: inout Model, _ x: Variable, labels: [Int],
                      settings: AttributionSettings, noise: PerturbationNoise, createGraph: Bool) throws -> Variable {
    func gradient(at point: Variable) throws -> Variable {
        // A constant input becomes a leaf: ∇ₓ needs something on the tape to differentiate.
        let input = point.requiresGrad ? point : Variable(point.value, requiresGrad: true)
        let score = settings.target.score(model.logits(input), labels: labels)
        return try grad(of: score, wrt: [input], createGraph: createGraph)[0]
    }
    switch method {
    case .saliency: return try gradient(at: x)
    case .gradientTimesInput: return x * (try gradient(at: x))
    case .integratedGradients:
        return try integratedGradients(&model, x, labels: labels, target: settings.target, steps: settings.igSteps, createGraph: createGraph)
    case .smoothGrad:
        let span = (settings.range.high.max() ?? 1) - (settings.range.low.min() ?? 0)
        let sigma = settings.smoothGradNoise * span
        var total: Variable?
        for s in 0..<settings.smoothGradSamples {
            var values = [Double](repeating: 0, count: x.value.count)
            let perSample = values.count / x.shape[0]
            for (j, key) in noise.keys.enumerated() {
                var rng = RandomStream(seed: noise.seed, .smoothGradNoise, key, UInt64(s))
                for e in 0..<perSample { values[j * perSample + e] = sigma * rng.normal() }
            }
            let g = try gradient(at: x + Variable(Tensor(shape: x.shape, values: values, dtype: x.dtype)))
            total = total.map { $0 + g } ?? g
        }
        return total! * (1.0 / Double(settings.smoothGradSamples))
    }
}

/// Per-pixel attribution [B,H,W] = Σ_c |a[b,c,h,w]| (how the papers aggregate channels).
public func pixelMap(_ attributions: Variable) -> Variable {
    let s = attributions.shape
    require(s.count == 4, "pixelMap: attributions must be [B,C,H,W], got \(s)")
    return attributions.abs().sum(axes: [1]).reshaped([s[0], s[2], s[3]])
}

/// The batch's pixel maps as metric inputs.
public func attributionMaps(_ pixelMaps: Tensor) -> [AttributionMap] {
    let s = pixelMaps.shape, v = pixelMaps.doubles, n = s[1] * s[2]
    return (0..<s[0]).map { AttributionMap(values: Array(v[($0 * n)..<(($0 + 1) * n)]), height: s[1], width: s[2]) }
}
