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
}

/// The valid pixel range of inputs (after any normalisation the data layer applies).
public struct PixelRange: Sendable, Equatable {
    public var low: Double, high: Double
    public init(low: Double = 0, high: Double = 1) { self.low = low; self.high = high }
}

/// Clamps x elementwise to [max(lo, center−ε), min(hi, center+ε)].
public func projectToBall(_ x: Tensor, center: Tensor, epsilon: Double, range: PixelRange) -> Tensor {
    let v = x.doubles, c = center.doubles
    return Tensor(shape: x.shape, values: zip(v, c).map { xi, ci in
        Swift.min(Swift.max(xi, Swift.max(range.low, ci - epsilon)), Swift.min(range.high, ci + epsilon))
    }, dtype: x.dtype)
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

    /// U[−ε, ε] noise shaped like x [B, ...].
    func uniform(_ x: Tensor, epsilon: Double) -> Tensor {
        let perSample = x.count / max(x.shape[0], 1)
        require(keys.count == x.shape[0], "perturbation: \(keys.count) noise keys for a batch of \(x.shape[0])")
        var values = [Double](repeating: 0, count: x.count)
        for (j, key) in keys.enumerated() {
            var rng = RandomStream(seed: seed, 0xE95, key)
            for e in 0..<perSample { values[j * perSample + e] = rng.uniform(-epsilon, epsilon) }
        }
        return Tensor(shape: x.shape, values: values, dtype: x.dtype)
    }
}

/// Draws x' for a batch (nil for `.none`).
public func perturb(_ x: Tensor, labels: [Int], with p: Perturbation, model: inout Model,
                    range: PixelRange, noise: PerturbationNoise) throws -> Tensor? {
    switch p {
    case .none: return nil
    case .uniform(let eps):
        return projectToBall(binary(.add, x, noise.uniform(x, epsilon: eps)), center: x, epsilon: eps, range: range)
    case let .pgd(eps, alpha, steps, randomStart):
        var xa = x
        if randomStart { xa = projectToBall(binary(.add, x, noise.uniform(x, epsilon: eps)), center: x, epsilon: eps, range: range) }
        for _ in 0..<steps {
            let input = Variable(xa, requiresGrad: true)
            let loss = crossEntropy(model.logits(input), labels: labels)
            let g = try grad(of: loss, wrt: [input])[0].value
            let stepped = binary(.add, xa, unary(.affine(scale: alpha, shift: 0), unary(.sign, g)))
            xa = projectToBall(stepped, center: x, epsilon: eps, range: range)
        }
        return xa
    }
}
