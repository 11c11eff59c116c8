import AttrGuardCore
import AttrGuardNN

/// How x' is drawn from x for the regularizers and adversarial training.
public enum Perturbation: Sendable, Equatable {
    case none
    /// x + δ, δ ~ U[−ε, ε]^d, clipped to the pixel range (one draw per element).
    case uniform(epsilon: Double)
    /// ℓ∞ PGD on the CE loss (Madry et al.): optional random start, `steps` sign steps of `stepSize`,
    /// projection onto the ε-ball and the pixel range after each step.
    case pgd(epsilon: Double, stepSize: Double, steps: Int, randomStart: Bool)
    /// TRADES' inner maximisation (github yaodongyu/TRADES, trades.py `trades_loss`, `l_inf`): start
    /// at x + 0.001·N(0, I), then `steps` sign steps of `stepSize` on Σᵢ KL(f(xᵢ) ‖ f(x'ᵢ)) with the
    /// model in evaluation mode (`model.eval()` there), each projected onto the ε-ball and the pixel range.
    case trades(epsilon: Double, stepSize: Double, steps: Int)
    /// IG-NORM's and IG-SUM-NORM's inner maximisation (github jfc43/robust-attribution-regularization,
    /// GTSRB/pgd_attack.py, loss_func `ar_approx` / `adv_ar_approx`): optional uniform random start,
    /// `steps` sign steps of `stepSize` on [Σᵢ CE(f(x'ᵢ)) when `withCE`] + λ·Σᵢ ‖IG(x → x')ᵢ‖₁ with
    /// `pathSteps` path points (their m / approx_factor), projected onto the ε-ball and the pixel range.
    case integratedGradientNorm(epsilon: Double, stepSize: Double, steps: Int, randomStart: Bool, pathSteps: Int, lambda: Double, withCE: Bool)
    /// ART's attack (AttributionAlignment.swift): uniform start, `steps` sign steps up the ranking
    /// loss of the image against its true- and wrong-class gradients on the top-k pixels.
    /// `gradientBatch` as `Objective.art`'s.
    case attributionAlignment(epsilon: Double, stepSize: Double, steps: Int, topK: Int, gradientBatch: Int? = nil)

    /// How the attack's model runs batch norm: running statistics for TRADES (as its authors'),
    /// the batch's own, frozen, otherwise.
    public var attackMode: ForwardMode {
        if case .trades = self { return .evaluation }
        return .trainingFrozenStatistics
    }
}

/// Where inputs live, per channel: the valid range, and how a pixel-space ε maps to input
/// units. Raw pixels are [0, 1] with scale 1; inputs normalised as (p − mean)/std range over
/// [−mean/std, (1 − mean)/std] and an ε of 8/255 in pixels is 8/255/std there.
public struct PixelRange: Sendable, Equatable {
    public var low: [Double], high: [Double], scale: [Double]

    public init(low: Double = 0, high: Double = 1) { self.low = [low]; self.high = [high]; scale = [1] }

    /// The range of inputs normalised as (p − mean)/std per channel.
    public static func normalized(mean: [Double], std: [Double]) -> PixelRange {
        var r = PixelRange()
        r.low = zip(mean, std).map { -$0 / $1 }
        r.high = zip(mean, std).map { (1 - $0) / $1 }
        r.scale = std.map { 1 / $0 }
        return r
    }

    /// x [B, C, ...] in the network's units back in pixel units ([0, 1] images), flattened.
    public func pixels(_ x: Tensor) -> [Double] {
        x.doubles.enumerated().map { i, v in let c = channel(i, x.shape); return (v - low[c]) / scale[c] }
    }

    /// Per-element channel of x [B, C, ...] (0 when the range is the same for all channels).
    func channel(_ i: Int, _ shape: [Int]) -> Int {
        guard low.count > 1 else { return 0 }
        let plane = shape.dropFirst(2).reduce(1, *)
        return (i / plane) % shape[1]
    }
}

/// Clamps x elementwise to [max(lo, center − ε), min(hi, center + ε)], per channel.
public func projectToBall(_ x: Tensor, center: Tensor, epsilon: Double, range: PixelRange) -> Tensor {
    let v = x.doubles, c = center.doubles
    var out = [Double](repeating: 0, count: v.count)
    for i in v.indices {
        let ch = range.channel(i, x.shape), e = epsilon * range.scale[ch]
        out[i] = Swift.min(Swift.max(v[i], Swift.max(range.low[ch], c[i] - e)), Swift.min(range.high[ch], c[i] + e))
    }
    return Tensor(shape: x.shape, values: out, dtype: x.dtype)
}

/// Where x''s random draws come from: sample j of the batch draws from
/// RandomStream(seed, keys[j]). Callers key a sample by (step, dataset index), so x' does not
/// depend on which rank holds the sample or how the batch is split.
public struct PerturbationNoise: Sendable {
    public var seed: UInt64
    public var keys: [UInt64]
    public init(seed: UInt64, keys: [UInt64]) { self.seed = seed; self.keys = keys }

    /// Keys 0..<n: a fixed batch.
    public init(seed: UInt64, count: Int) { self.init(seed: seed, keys: (0..<count).map(UInt64.init)) }

    /// A tensor shaped like x [B, ...] whose element i of sample j is `value(&rng, i)`, rng the
    /// stream (seed, purpose, keys[j][, draw]): every random input perturbation is drawn here.
    func draws(_ x: Tensor, _ purpose: RandomPurpose, draw: Int? = nil, _ value: (inout RandomStream, Int) -> Double) -> Tensor {
        let perSample = x.count / max(x.shape[0], 1)
        require(keys.count == x.shape[0], "perturbation: \(keys.count) noise keys for a batch of \(x.shape[0])")
        var values = [Double](repeating: 0, count: x.count)
        for (j, key) in keys.enumerated() {
            var rng = draw.map { RandomStream(seed: seed, purpose, key, UInt64($0)) } ?? RandomStream(seed: seed, purpose, key)
            for e in 0..<perSample { values[j * perSample + e] = value(&rng, j * perSample + e) }
        }
        return Tensor(shape: x.shape, values: values, dtype: x.dtype)
    }

    /// The hessian objective's probe v ~ N(0, I) shaped like x [B, ...] (the authors' `torch.randn_like(x)`).
    public func hessianProbe(_ x: Tensor) -> Tensor {
        draws(x, .hessianProbe) { rng, _ in rng.normal() }
    }

    /// The sampling metrics' draw `draw` of x′ − x shaped like x [B, ...]: U[−r, r] or N(0, r²)
    /// per element in pixel units, times range.scale[c] in the network's units.
    public func sampling(_ x: Tensor, _ settings: SamplingSettings, range: PixelRange, draw: Int) -> Tensor {
        draws(x, .samplingNoise, draw: draw) { rng, i in
            let unit = settings.noise == .uniform ? rng.uniform(-1, 1) : rng.normal()
            return unit * settings.radius * range.scale[range.channel(i, x.shape)]
        }
    }

    /// U[−ε_c, ε_c] noise shaped like x [B, ...], ε_c = ε · range.scale[c].
    func uniform(_ x: Tensor, epsilon: Double, range: PixelRange, purpose: RandomPurpose = .perturbation, draw: Int? = nil) -> Tensor {
        draws(x, purpose, draw: draw) { rng, i in rng.uniform(-1, 1) * epsilon * range.scale[range.channel(i, x.shape)] }
    }
}

/// Draws x' for a batch (nil for `.none`).
public func perturb(_ x: Tensor, labels: [Int], with p: Perturbation, model: inout Model,
                    range: PixelRange, noise: PerturbationNoise) throws -> Tensor? {
    /// x + U[−ε, ε] projected back: the random start of PGD-style attacks.
    func uniformStart(_ eps: Double) -> Tensor {
        projectToBall(binary(.add, x, noise.uniform(x, epsilon: eps, range: range)), center: x, epsilon: eps, range: range)
    }
    switch p {
    case .none: return nil
    case .uniform(let eps):
        return uniformStart(eps)
    case let .pgd(eps, alpha, steps, randomStart):
        return try signAscent(from: randomStart ? uniformStart(eps) : x, center: x, epsilon: eps, stepSize: alpha, steps: steps, range: range) {
            crossEntropy(model.logits($0), labels: labels)
        }
    case let .trades(eps, alpha, steps):
        let start = noise.draws(x, .tradesStart) { rng, i in 0.001 * rng.normal() * range.scale[range.channel(i, x.shape)] }
        let natural = Variable(model.logits(Variable(x)).value)   // the KL's fixed target
        let xa = try signAscent(from: binary(.add, x, start), center: x, epsilon: eps, stepSize: alpha, steps: steps, range: range) {
            klDivergencePerSample(natural, model.logits($0)).sum()
        }
        return projectToBall(xa, center: x, epsilon: eps, range: range)   // TRADES clamps its start too, when steps is 0
    case let .attributionAlignment(eps, alpha, steps, topK, gradientBatch):
        return try attributionAlignmentAttack(&model, x, labels: labels, start: uniformStart(eps), epsilon: eps, stepSize: alpha, steps: steps,
                                              topK: topK, gradientBatch: gradientBatch, range: range)
    case let .integratedGradientNorm(eps, alpha, steps, randomStart, pathSteps, lambda, withCE):
        return try signAscent(from: randomStart ? uniformStart(eps) : x, center: x, epsilon: eps, stepSize: alpha, steps: steps, range: range) { input in
            let ig = try integratedGradients(&model, from: Variable(x), to: input, labels: labels, target: .loss, steps: pathSteps, createGraph: true)
            let norm = ig.abs().sum() * lambda
            return withCE ? norm + crossEntropy(model.logits(input), labels: labels, reduction: .sum) : norm
        }
    }
}

/// `steps` ℓ∞ sign-ascent steps on `objective` from `start`: x ← Π(x + α·sign ∇ₓ objective(x)), α
/// per channel in input units, Π onto the ε-ball around `center` and the pixel range. What every
/// attack here shares (PGD, TRADES', IG-NORM's, ART's).
func signAscent(from start: Tensor, center: Tensor, epsilon: Double, stepSize: Double, steps: Int, range: PixelRange,
                objective: (Variable) throws -> Variable) throws -> Tensor {
    let stepScale = Tensor(shape: [center.count], values: (0..<center.count).map { stepSize * range.scale[range.channel($0, center.shape)] },
                           dtype: center.dtype).reshaped(center.shape)
    var xa = start
    for _ in 0..<steps {
        let input = Variable(xa, requiresGrad: true)
        let g = try grad(of: objective(input), wrt: [input])[0].value
        xa = projectToBall(binary(.add, xa, binary(.mul, stepScale, unary(.sign, g))), center: center, epsilon: epsilon, range: range)
    }
    return xa
}
