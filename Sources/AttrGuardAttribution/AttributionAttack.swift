import AttrGuardCore
import AttrGuardNN

/// The attribution attacks of the evaluation. Each attacks the map of the method being evaluated
/// (`AttackSettings.target`): IG is differentiated through its path points, SmoothGrad through its
/// fixed noise samples.
public enum AttributionAttack: String, Sendable, CaseIterable {
    /// Ghorbani, Abid & Zou (AAAI 2019), top-k variant: sign steps on D(x) = −Σ_{p∈T} M(x)_p / Σ_p M(x)_p
    /// (the share of the map's mass in T), T the original map's top-k pixels, projected to the ε-ball; a step is kept for a sample only
    /// while its predicted label is unchanged; the result is the iterate chosen by `AttackSettings.selection`.
    case topK = "topk"
    /// Ghorbani's mass-center attack: the same sign steps, label constraint and ε-ball, ascending
    /// ‖C(M(x)) − C(M(x₀))‖₂², C the intensity-weighted mean pixel coordinate (row, column); by
    /// default the result is the iterate whose centre moved furthest.
    case massCenter = "mass_center"
    /// x + ε·sign(u), u uniform: the random baseline of the same size.
    case randomSign = "random_sign"
    /// Dombrowski et al. (NeurIPS 2019) targeted manipulation, as the l2+cosine paper's code runs it:
    /// Adam (lr 4ε/iterations) on 0.5·Σ_p (h(x')_p − h_t,p)² + 0.5·mean_c (f(x')_c − f(x)_c)² per image,
    /// h = Σ_c|attribution| / (max + 1e-8), h_t ones on a border frame; projected to the ε-ball after
    /// each step, no label constraint (the logit term keeps the output); the last iterate is returned.
    case manipulation
    /// Random perturbation similarity: x + U[−ε, ε] per pixel, `AttackSettings.draws` draws per image
    /// (metrics are averaged over the draws).
    case randomPerturbation = "random_perturbation"
}

/// Which iterate a sign-step attack (top-k, mass-center) keeps, per image, over every iteration
/// and restart.
public enum AttackSelection: String, Sendable, CaseIterable {
    /// The attack's own measure: lowest top-k intersection (top-k), furthest-moved centre (mass-center).
    case objective
    /// Lowest top-k intersection with the original map.
    case topK = "topk"
    /// Lowest Kendall τ with the original map (the LENS code's choice among its restarts).
    case kendall
}

/// How the attacks run. ε and the step are in pixel units (x/255), scaled into input units per
/// channel through `range`.
public struct AttackSettings: Sendable {
    /// ℓ∞ radius of the ball the attacked image stays in.
    public var epsilon = 8.0 / 255
    /// Sign-step size of the top-k and mass-center attacks.
    public var stepSize = 1.0 / 255
    /// Sign steps, or Adam steps of the manipulation attack.
    public var iterations = 50
    /// k of the top-k attack's target set.
    public var k = 100
    /// The valid input range per channel (and the pixel-to-input scale).
    public var range = PixelRange()
    /// The attribution method whose map the attack moves (the one being evaluated).
    public var target: AttributionMethod = .saliency
    /// Sign-step attacks: runs per image; the first starts at x (mass-center: one random sign step
    /// from x), the others at a uniform random point of the ε-ball.
    public var restarts = 1
    public var selection: AttackSelection = .objective
    /// Round every iterate to whole 1/255 pixel levels (the LENS code attacks 0–255 integer images).
    public var quantize = false
    /// Draws per image of the random perturbation.
    public var draws = 10
    /// Border width of the manipulation target h_t; nil: 5 pixels per 32 (the l2+cosine code: 5 on
    /// 32×32, 35 on 224×224).
    public var frameWidth: Int?
    public init() {}
}

/// Runs `attack` on the batch x [B,C,H,W] and returns the attacked batch (for the random
/// perturbation, its first draw). `model` should use Softplus where the trained model uses ReLU
/// (ReLU networks have no curvature to attack through); M(x) = Σ_c |attribution of settings.target|.
public func attack(_ attack: AttributionAttack, _ model: inout Model, x: Tensor, labels: [Int], settings: AttackSettings,
                   attribution: AttributionSettings, noise: PerturbationNoise) throws -> Tensor {
    try perturbations(attack, &model, x: x, labels: labels, settings: settings, attribution: attribution, noise: noise)[0]
}

/// The attacked batches of `attack`: one, or `settings.draws` for the random perturbation.
public func perturbations(_ attack: AttributionAttack, _ model: inout Model, x: Tensor, labels: [Int], settings: AttackSettings,
                          attribution: AttributionSettings, noise: PerturbationNoise) throws -> [Tensor] {
    switch attack {
    case .randomSign:
        return [randomSigns(x, size: settings.epsilon, settings: settings, noise: noise)]
    case .randomPerturbation:
        return (0..<max(1, settings.draws)).map { uniformPoint(x, settings: settings, noise: noise, stream: .randomPerturbation, draw: $0) }
    case .manipulation:
        return [try manipulate(&model, x: x, labels: labels, settings: settings, attribution: attribution, noise: noise)]
    case .topK, .massCenter:
        return [try signStepAttack(attack, &model, x: x, labels: labels, settings: settings, attribution: attribution, noise: noise)]
    }
}

private func signStepAttack(_ attack: AttributionAttack, _ model: inout Model, x: Tensor, labels: [Int], settings: AttackSettings,
                            attribution: AttributionSettings, noise: PerturbationNoise) throws -> Tensor {
    func targetMap(_ input: Variable, createGraph: Bool) throws -> Variable {
        pixelMap(try attribute(settings.target, &model, input, labels: labels, settings: attribution, noise: noise, createGraph: createGraph))
    }
    let original = attributionMaps(try targetMap(Variable(x, requiresGrad: true), createGraph: false).value)
    let batch = x.shape[0], h = original[0].height, w = original[0].width
    let objective: (Variable) -> Variable, ownScore: (Int, AttributionMap) -> Double
    if attack == .topK {
        // Mask [B,H,W] of each sample's original top-k pixels. D(x) = −Σ_{p∈T} M(x)_p / Σ_p M(x)_p:
        // the share, not the mass — lowering the mass alone would let the attack shrink the whole
        // map instead of moving it out of T (Ghorbani's and the LENS code normalise).
        var maskValues = [Double](repeating: 0, count: batch * h * w)
        for (b, m) in original.enumerated() { for p in m.topK(settings.k) { maskValues[b * h * w + p] = 1 } }
        let mask = Variable(Tensor(shape: [batch, h, w], values: maskValues, dtype: x.dtype))
        objective = { m in -((m * mask).sum(axes: [1, 2]) / (m.sum(axes: [1, 2]) + 1e-30)).sum() }
        ownScore = { b, map in topKIntersection(original[b], map, k: settings.k) }
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
        ownScore = { b, map in
            let c = massCenter(map)
            return -((c.row - start[b].row) * (c.row - start[b].row) + (c.column - start[b].column) * (c.column - start[b].column))
        }
    }
    let score: (Int, AttributionMap) -> Double
    switch settings.selection {
    case .objective: score = ownScore
    case .topK: score = { b, map in topKIntersection(original[b], map, k: settings.k) }
    case .kendall: score = { b, map in kendallTau(original[b].values, map.values) }
    }
    var best = Selection(x)
    for restart in 0..<max(1, settings.restarts) {
        // At x₀ the squared centre shift has zero gradient: the mass-center attack starts one random sign step away.
        let first = restart > 0 ? uniformPoint(x, settings: settings, noise: noise, stream: .attackRestart, draw: restart)
            : attack == .massCenter ? randomSigns(x, size: settings.stepSize, settings: settings, noise: noise) : x
        try signSteps(x, from: first, settings: settings, predict: { argmaxRows(model.logits(Variable($0)).value) },
                      objective: { try objective(targetMap($0, createGraph: true)) },
                      attacked: { attributionMaps(try targetMap(Variable($0, requiresGrad: true), createGraph: false).value) },
                      score: score, best: &best)
    }
    return best.tensor(like: x)
}

/// Each sample's lowest-scoring iterate so far (x itself, scored +∞, until a step is kept).
private struct Selection {
    var values: [Double], scores: [Double]
    let perSample: Int
    init(_ x: Tensor) { values = x.doubles; perSample = x.count / x.shape[0]; scores = [Double](repeating: .infinity, count: x.shape[0]) }

    mutating func offer(sample b: Int, score: Double, from candidate: [Double]) {
        guard score < scores[b] else { return }
        scores[b] = score
        for e in 0..<perSample { values[b * perSample + e] = candidate[b * perSample + e] }
    }

    func tensor(like x: Tensor) -> Tensor { Tensor(shape: x.shape, values: values, dtype: x.dtype) }
}

/// x + size·(±1 per element, from the samples' noise keys), projected to the ε-ball.
private func randomSigns(_ x: Tensor, size: Double, settings: AttackSettings, noise: PerturbationNoise) -> Tensor {
    let r = settings.range
    let signs = noise.draws(x, .randomSigns) { rng, i in (rng.next() & 1 == 0 ? -1 : 1) * size * r.scale[r.channel(i, x.shape)] }
    return settled(projectToBall(binary(.add, x, signs), center: x, epsilon: settings.epsilon, range: r), settings)
}

/// x + U[−ε, ε] per element (ε in input units per channel), clipped to the pixel range; draw `draw`
/// of random stream `stream`, keyed by each sample's noise key.
private func uniformPoint(_ x: Tensor, settings: AttackSettings, noise: PerturbationNoise, stream: RandomPurpose, draw: Int) -> Tensor {
    let shift = noise.uniform(x, epsilon: settings.epsilon, range: settings.range, purpose: stream, draw: draw)
    return settled(projectToBall(binary(.add, x, shift), center: x, epsilon: settings.epsilon, range: settings.range), settings)
}

/// An iterate on whole 1/255 pixel levels when `settings.quantize` (pixel p = (x − low)/scale); for
/// x and ε on that grid the rounded point stays in the ε-ball.
private func settled(_ x: Tensor, _ settings: AttackSettings) -> Tensor {
    guard settings.quantize else { return x }
    let r = settings.range, v = x.doubles
    var out = [Double](repeating: 0, count: v.count)
    for i in v.indices {
        let c = r.channel(i, x.shape)
        out[i] = r.low[c] + ((v[i] - r.low[c]) / r.scale[c] * 255).rounded() / 255 * r.scale[c]
    }
    return Tensor(shape: x.shape, values: out, dtype: x.dtype)
}

/// The intensity-weighted mean pixel coordinate of a map (its centre when the map is all zero).
public func massCenter(_ m: AttributionMap) -> (row: Double, column: Double) {
    var total = 0.0, r = 0.0, c = 0.0
    for (p, v) in m.values.enumerated() { total += v; r += v * Double(p / m.width); c += v * Double(p % m.width) }
    return total > 0 ? (r / total, c / total) : (Double(m.height - 1) / 2, Double(m.width - 1) / 2)
}

/// Ghorbani's iteration from `start` (x, or a point of x's ε-ball): `settings.iterations` sign
/// steps of `stepSize` ascending `objective` (a sum over the batch), projected to the ε-ball around
/// x; a sample keeps a step only while its predicted label (`predict`) is unchanged, and every
/// kept iterate is offered to `best` with its `score` (sample index, attacked map).
private func signSteps(_ x: Tensor, from start: Tensor, settings: AttackSettings, predict: (Tensor) -> [Int],
                       objective: (Variable) throws -> Variable, attacked: (Tensor) throws -> [AttributionMap],
                       score: (Int, AttributionMap) -> Double, best: inout Selection) throws {
    let batch = x.shape[0], perSample = x.count / batch
    let predicted = predict(x)
    // A start whose label changed falls back to x for that sample.
    let startLabels = predict(start), s0 = start.doubles
    var initial = x.doubles
    for b in 0..<batch where startLabels[b] == predicted[b] {
        for e in 0..<perSample { initial[b * perSample + e] = s0[b * perSample + e] }
    }
    // α·sign(g), α per channel in input units
    let stepScale = Tensor(shape: x.shape, values: (0..<x.count).map { settings.stepSize * settings.range.scale[settings.range.channel($0, x.shape)] },
                           dtype: x.dtype)
    var current = Tensor(shape: x.shape, values: initial, dtype: x.dtype)
    for _ in 0..<settings.iterations {
        let input = Variable(current, requiresGrad: true)
        let g = try grad(of: try objective(input), wrt: [input])[0].value
        let stepped = settled(projectToBall(binary(.add, current, binary(.mul, stepScale, unary(.sign, g))),
                                            center: x, epsilon: settings.epsilon, range: settings.range), settings)
        let labelsNow = predict(stepped)
        let maps = try attacked(stepped)
        var next = current.doubles
        let s = stepped.doubles
        for b in 0..<batch where labelsNow[b] == predicted[b] {
            // keep the step for this sample; remember the most damaging iterate
            for e in 0..<perSample { next[b * perSample + e] = s[b * perSample + e] }
            best.offer(sample: b, score: score(b, maps[b]), from: s)
        }
        current = Tensor(shape: x.shape, values: next, dtype: x.dtype)
    }
}

/// The manipulation target h_t [1,H,W]: ones on a border frame `width` pixels wide, zeros inside.
public func frameTarget(height: Int, width: Int, frame: Int) -> [Double] {
    (0..<(height * width)).map { p in
        let y = p / width, x = p % width
        return y < frame || y >= height - frame || x < frame || x >= width - frame ? 1 : 0
    }
}

/// Σ_c|attribution| divided by its per-image maximum (+1e-8), [B,H,W]; the maximum is taken at
/// its pixel (a gather), so the gradient flows through it as through a max.
public func maxNormalizedMap(_ attributions: Variable) -> Variable {
    let m = pixelMap(attributions), s = m.shape, n = s[1] * s[2], v = m.value.doubles
    let peaks = (0..<s[0]).map { b in b * n + (0..<n).max { v[b * n + $0] < v[b * n + $1] }! }
    return m / (gather(m, indices: peaks, shape: [s[0], 1, 1]) + 1e-8)
}

/// The manipulation attack (see `AttributionAttack.manipulation`); x [B,C,H,W]. Adam as
/// torch.optim.Adam (β 0.9/0.999, 1e-8), lr 4ε/iterations per channel in input units. The loss is a
/// sum of per-image terms, so an image's path does not depend on the rest of its batch.
private func manipulate(_ model: inout Model, x: Tensor, labels: [Int], settings: AttackSettings, attribution: AttributionSettings,
                        noise: PerturbationNoise) throws -> Tensor {
    let (h, w) = (x.shape[2], x.shape[3])
    let original = Variable(model.logits(Variable(x)).value)                              // f(x) [B,K], a constant
    let frame = settings.frameWidth ?? max(1, (5 * min(h, w) + 16) / 32)
    let target = Variable(Tensor(shape: [1, h, w], values: frameTarget(height: h, width: w, frame: frame), dtype: x.dtype))
    let classes = Double(original.shape[1]), iterations = max(1, settings.iterations)
    let rate = (0..<x.count).map { 4 * settings.epsilon * settings.range.scale[settings.range.channel($0, x.shape)] / Double(iterations) }
    let (beta1, beta2, adamEpsilon) = (0.9, 0.999, 1e-8)
    var m = [Double](repeating: 0, count: x.count), v = m, current = x
    var beta1Power = 1.0, beta2Power = 1.0
    for _ in 1...iterations {
        let input = Variable(current, requiresGrad: true)
        let map = maxNormalizedMap(try attribute(settings.target, &model, input, labels: labels, settings: attribution, noise: noise, createGraph: true))
        let mapGap = map - target, logitGap = model.logits(input) - original
        let loss = 0.5 * (mapGap * mapGap).sum() + (0.5 / classes) * (logitGap * logitGap).sum()
        let g = try grad(of: loss, wrt: [input])[0].value.doubles
        var p = current.doubles
        beta1Power *= beta1; beta2Power *= beta2
        let c1 = 1 - beta1Power, c2 = 1 - beta2Power
        for i in p.indices {
            m[i] = beta1 * m[i] + (1 - beta1) * g[i]
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
            p[i] -= rate[i] * (m[i] / c1) / ((v[i] / c2).squareRoot() + adamEpsilon)
        }
        current = settled(projectToBall(Tensor(shape: x.shape, values: p, dtype: x.dtype), center: x, epsilon: settings.epsilon,
                                        range: settings.range), settings)
    }
    return current
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
