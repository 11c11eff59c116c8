import AttrGuardCore
import AttrGuardNN

/// The attribution attacks of the evaluation.
public enum AttributionAttack: String, Sendable, CaseIterable {
    /// Ghorbani, Abid & Zou (AAAI 2019), top-k variant: sign steps on D(x) = −Σ_{p∈T} M(x)_p / Σ_p M(x)_p
    /// (the share of the map's mass in T), T the original map's top-k pixels, projected to the ε-ball; a step is kept for a sample only
    /// while its predicted label is unchanged; the result is the iterate with the smallest top-k
    /// intersection. M is the map of the attribution method under attack (`AttackSettings.target`):
    /// IG is differentiated through its path points, SmoothGrad through its fixed noise samples.
    case topK = "topk"
    /// x + ε·sign(u), u uniform: the random baseline of the same size.
    case randomSign = "random_sign"
}

public struct AttackSettings: Sendable {
    public var epsilon = 8.0 / 255
    public var stepSize = 1.0 / 255
    public var iterations = 50
    public var k = 100
    public var range = PixelRange()
    /// The attribution method whose map the top-k attack moves (the one being evaluated).
    public var target: AttributionMethod = .saliency
    public init() {}
}

/// Runs `attack` on the batch. `model` should use Softplus where the trained model uses ReLU
/// (ReLU networks have no curvature to attack through); M(x) = Σ_c |attribution of settings.target|.
public func attack(_ attack: AttributionAttack, _ model: inout Model, x: Tensor, labels: [Int], settings: AttackSettings,
                   attribution: AttributionSettings, noise: PerturbationNoise) throws -> Tensor {
    switch attack {
    case .randomSign:
        var values = [Double](repeating: 0, count: x.count)
        let perSample = x.count / x.shape[0]
        for (j, key) in noise.keys.enumerated() {
            var rng = RandomStream(seed: noise.seed, 0x5A5A, key)
            for e in 0..<perSample { values[j * perSample + e] = (rng.next() & 1 == 0 ? -1 : 1) * settings.epsilon }
        }
        let perturbed = binary(.add, x, Tensor(shape: x.shape, values: values, dtype: x.dtype))
        return projectToBall(perturbed, center: x, epsilon: settings.epsilon, range: settings.range)
    case .topK:
        let batch = x.shape[0]
        func targetMap(_ input: Variable, createGraph: Bool) throws -> Variable {
            pixelMap(try attribute(settings.target, &model, input, labels: labels, settings: attribution, noise: noise, createGraph: createGraph))
        }
        let original = attributionMaps(try targetMap(Variable(x, requiresGrad: true), createGraph: false).value)
        let predicted = argmaxRows(model.logits(Variable(x)).value)
        let h = original[0].height, w = original[0].width
        // Mask [B,H,W] of each sample's original top-k pixels.
        var maskValues = [Double](repeating: 0, count: batch * h * w)
        for (b, m) in original.enumerated() { for p in m.topK(settings.k) { maskValues[b * h * w + p] = 1 } }
        let mask = Variable(Tensor(shape: [batch, h, w], values: maskValues, dtype: x.dtype))
        var current = x
        var best = x.doubles
        var bestScore = [Double](repeating: .infinity, count: batch)
        let perSample = x.count / batch
        for _ in 0..<settings.iterations {
            let input = Variable(current, requiresGrad: true)
            // D(x) = −Σ_{p∈T} M(x)_p / Σ_p M(x)_p, summed over the batch (samples are independent in
            // evaluation mode). The share, not the mass: lowering the mass alone would let the attack
            // shrink the whole map instead of moving it out of T (Ghorbani's and the LENS code normalise).
            let m = try targetMap(input, createGraph: true)                       // [B,H,W]
            let share = (m * mask).sum(axes: [1, 2]) / (m.sum(axes: [1, 2]) + 1e-30)   // [B,1,1]
            let d = -share.sum()
            let g = try grad(of: d, wrt: [input])[0].value
            let stepped = projectToBall(binary(.add, current, binary(.mul, Tensor(repeating: settings.stepSize, shape: [1], dtype: x.dtype),
                                                                    unary(.sign, g))),
                                        center: x, epsilon: settings.epsilon, range: settings.range)
            let labelsNow = argmaxRows(model.logits(Variable(stepped)).value)
            let maps = attributionMaps(try targetMap(Variable(stepped, requiresGrad: true), createGraph: false).value)
            var next = current.doubles
            let s = stepped.doubles
            for b in 0..<batch where labelsNow[b] == predicted[b] {
                // keep the step for this sample; remember the most damaging iterate
                for e in 0..<perSample { next[b * perSample + e] = s[b * perSample + e] }
                let score = topKIntersection(original[b], maps[b], k: settings.k)
                if score < bestScore[b] {
                    bestScore[b] = score
                    for e in 0..<perSample { best[b * perSample + e] = s[b * perSample + e] }
                }
            }
            current = Tensor(shape: x.shape, values: next, dtype: x.dtype)
        }
        return Tensor(shape: x.shape, values: best, dtype: x.dtype)
    }
}

extension LayerSpec {
    /// The same layer with ReLU replaced by Softplus(β): the attack's surrogate for ReLU models.
    public func smoothed(beta: Double) -> LayerSpec {
        switch self {
        case .relu: return .softplus(beta: beta)
        case let .residual(body, shortcut, activation):
            return .residual(body: body.map { $0.smoothed(beta: beta) }, shortcut: shortcut.map { $0.smoothed(beta: beta) },
                             activation: activation?.smoothed(beta: beta))
        default: return self
        }
    }
}
