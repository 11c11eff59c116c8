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

/// Draws x' for a batch. `rng` is the batch's own stream (seeded from seed, step and sample
/// indices by the caller), so x' does not depend on the rank count.
public func perturb(_ x: Tensor, labels: [Int], with p: Perturbation, model: inout Model,
                    range: PixelRange, rng: inout RandomStream) throws -> Tensor? {
    switch p {
    case .none: return nil
    case .uniform(let eps):
        let noise = Tensor.uniform(x.shape, low: -eps, high: eps, dtype: x.dtype, rng: &rng)
        return projectToBall(binary(.add, x, noise), center: x, epsilon: eps, range: range)
    case let .pgd(eps, alpha, steps, randomStart):
        var xa = x
        if randomStart {
            let noise = Tensor.uniform(x.shape, low: -eps, high: eps, dtype: x.dtype, rng: &rng)
            xa = projectToBall(binary(.add, x, noise), center: x, epsilon: eps, range: range)
        }
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
