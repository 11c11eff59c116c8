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
    /// Ghorbani's mass-center attack: the same sign steps, label constraint and ε-ball, ascending
    /// ‖C(M(x)) − C(M(x₀))‖₂², C the intensity-weighted mean pixel coordinate (row, column); the
    /// result is the iterate whose centre moved furthest.
    case massCenter = "mass_center"
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
        return randomSigns(x, size: settings.epsilon, settings: settings, noise: noise)
    case .topK, .massCenter:
        func targetMap(_ input: Variable, createGraph: Bool) throws -> Variable {
            pixelMap(try attribute(settings.target, &model, input, labels: labels, settings: attribution, noise: noise, createGraph: createGraph))
        }
        let original = attributionMaps(try targetMap(Variable(x, requiresGrad: true), createGraph: false).value)
        let batch = x.shape[0], h = original[0].height, w = original[0].width
        let objective: (Variable) -> Variable, score: (Int, AttributionMap) -> Double
        var first = x
        if attack == .topK {
            // Mask [B,H,W] of each sample's original top-k pixels. D(x) = −Σ_{p∈T} M(x)_p / Σ_p M(x)_p:
            // the share, not the mass — lowering the mass alone would let the attack shrink the whole
            // map instead of moving it out of T (Ghorbani's and the LENS code normalise).
            var maskValues = [Double](repeating: 0, count: batch * h * w)
            for (b, m) in original.enumerated() { for p in m.topK(settings.k) { maskValues[b * h * w + p] = 1 } }
            let mask = Variable(Tensor(shape: [batch, h, w], values: maskValues, dtype: x.dtype))
            objective = { m in -((m * mask).sum(axes: [1, 2]) / (m.sum(axes: [1, 2]) + 1e-30)).sum() }
            score = { b, map in topKIntersection(original[b], map, k: settings.k) }
        } else {
            let rows = Variable(Tensor(shape: [1, h, w], values: (0..<(h * w)).map { Double($0 / w) }, dtype: x.dtype))
            let cols = Variable(Tensor(shape: [1, h, w], values: (0..<(h * w)).map { Double($0 % w) }, dtype: x.dtype))
            let start = original.map(massCenter)
            let startRows = Variable(Tensor(shape: [batch, 1, 1], values: start.map(\.row), dtype: x.dtype))
            let startCols = Variable(Tensor(shape: [batch, 1, 1], values: start.map(\.column), dtype: x.dtype))
            objective = { m in
                let mass = m.sum(axes: [1, 2]) + 1e-30                                      // [B,1,1]
                let dr = (m * rows).sum(axes: [1, 2]) / mass - startRows, dc = (m * cols).sum(axes: [1, 2]) / mass - startCols
                return (dr * dr + dc * dc).sum()
            }
            // At x₀ the squared distance has zero gradient: start from one random sign step.
            first = randomSigns(x, size: settings.stepSize, settings: settings, noise: noise)
            score = { b, map in
                let c = massCenter(map)
                return -((c.row - start[b].row) * (c.row - start[b].row) + (c.column - start[b].column) * (c.column - start[b].column))
            }
        }
        return try signSteps(x, from: first, settings: settings, predict: { argmaxRows(model.logits(Variable($0)).value) },
                             objective: { try objective(targetMap($0, createGraph: true)) },
                             attacked: { attributionMaps(try targetMap(Variable($0, requiresGrad: true), createGraph: false).value) },
                             score: score)
    }
}

/// x + size·(±1 per element, from the samples' noise keys), projected to the ε-ball.
private func randomSigns(_ x: Tensor, size: Double, settings: AttackSettings, noise: PerturbationNoise) -> Tensor {
    var values = [Double](repeating: 0, count: x.count)
    let perSample = x.count / x.shape[0]
    for (j, key) in noise.keys.enumerated() {
        var rng = RandomStream(seed: noise.seed, 0x5A5A, key)
        for e in 0..<perSample { values[j * perSample + e] = (rng.next() & 1 == 0 ? -1 : 1) * size }
    }
    let perturbed = binary(.add, x, Tensor(shape: x.shape, values: values, dtype: x.dtype))
    return projectToBall(perturbed, center: x, epsilon: settings.epsilon, range: settings.range)
}

/// The intensity-weighted mean pixel coordinate of a map (its centre when the map is all zero).
public func massCenter(_ m: AttributionMap) -> (row: Double, column: Double) {
    var total = 0.0, r = 0.0, c = 0.0
    for (p, v) in m.values.enumerated() { total += v; r += v * Double(p / m.width); c += v * Double(p % m.width) }
    return total > 0 ? (r / total, c / total) : (Double(m.height - 1) / 2, Double(m.width - 1) / 2)
}

/// Ghorbani's iteration from `start` (x, or a point of x's ε-ball): `settings.iterations` sign
/// steps of `stepSize` ascending `objective` (a sum over the batch), projected to the ε-ball around
/// x; a sample keeps a step only while its predicted label (`predict`) is unchanged, and ends at
/// its iterate with the lowest `score` (sample index, attacked map), or x if none was kept.
private func signSteps(_ x: Tensor, from start: Tensor, settings: AttackSettings, predict: (Tensor) -> [Int],
                       objective: (Variable) throws -> Variable, attacked: (Tensor) throws -> [AttributionMap],
                       score: (Int, AttributionMap) -> Double) throws -> Tensor {
    let batch = x.shape[0], perSample = x.count / batch
    let predicted = predict(x)
    // A start whose label changed falls back to x for that sample.
    let startLabels = predict(start), s0 = start.doubles
    var initial = x.doubles
    for b in 0..<batch where startLabels[b] == predicted[b] {
        for e in 0..<perSample { initial[b * perSample + e] = s0[b * perSample + e] }
    }
    var current = Tensor(shape: x.shape, values: initial, dtype: x.dtype), best = x.doubles
    var bestScore = [Double](repeating: .infinity, count: batch)
    for _ in 0..<settings.iterations {
        let input = Variable(current, requiresGrad: true)
        let g = try grad(of: try objective(input), wrt: [input])[0].value
        let stepped = projectToBall(binary(.add, current, binary(.mul, Tensor(repeating: settings.stepSize, shape: [1], dtype: x.dtype),
                                                                unary(.sign, g))),
                                    center: x, epsilon: settings.epsilon, range: settings.range)
        let labelsNow = predict(stepped)
        let maps = try attacked(stepped)
        var next = current.doubles
        let s = stepped.doubles
        for b in 0..<batch where labelsNow[b] == predicted[b] {
            // keep the step for this sample; remember the most damaging iterate
            for e in 0..<perSample { next[b * perSample + e] = s[b * perSample + e] }
            let value = score(b, maps[b])
            if value < bestScore[b] {
                bestScore[b] = value
                for e in 0..<perSample { best[b * perSample + e] = s[b * perSample + e] }
            }
        }
        current = Tensor(shape: x.shape, values: next, dtype: x.dtype)
    }
    return Tensor(shape: x.shape, values: best, dtype: x.dtype)
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
