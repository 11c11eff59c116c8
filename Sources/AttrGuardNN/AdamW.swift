import AttrGuardCore
import Foundation

/// AdamW as torch.optim.AdamW: decoupled weight decay p ← p·(1 − lr·wd), then the Adam step
/// with bias-corrected moments.
public struct AdamW: Sendable {
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    public var weightDecay: Double
    /// First and second moment buffers [P] and the steps taken (nil/0 before the first step).
    public private(set) var firstMoment: Tensor?
    public private(set) var secondMoment: Tensor?
    public private(set) var steps: Int = 0

    public init(beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 1e-2) {
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.weightDecay = weightDecay
    }

    /// State from a checkpoint.
    public mutating func restore(firstMoment: Tensor?, secondMoment: Tensor?, steps: Int) {
        self.firstMoment = firstMoment?.copy(); self.secondMoment = secondMoment?.copy(); self.steps = steps
    }

    /// One step on the flat parameters [P] with the flat gradient [P].
    public mutating func step(parameters: inout ParameterSet, gradient: Tensor, learningRate lr: Double) {
        require(gradient.count == parameters.flat.count && gradient.dtype == parameters.dtype,
                "AdamW.step: gradient of \(gradient.count) \(gradient.dtype) for \(parameters.flat.count) \(parameters.dtype) parameters")
        if firstMoment == nil {
            firstMoment = Tensor(zeros: [gradient.count], dtype: gradient.dtype)
            secondMoment = Tensor(zeros: [gradient.count], dtype: gradient.dtype)
        }
        steps += 1
        let p = parameters.flat.copy()
        switch p.dtype {
        case .float32: kernel(p, gradient, lr, Float.self)
        case .float64: kernel(p, gradient, lr, Double.self)
        }
        parameters.assign(flat: p)
    }

    private func kernel<T: Scalar>(_ params: Tensor, _ grad: Tensor, _ lr: Double, _: T.Type) {
        let p = params.mutablePointer(T.self), g = grad.pointer(T.self)
        let m = firstMoment!.mutablePointer(T.self), v = secondMoment!.mutablePointer(T.self)
        let b1 = T(beta1), b2 = T(beta2), eps = T(epsilon), decay = T(1 - lr * weightDecay)
        let c1 = 1 / (1 - pow(beta1, Double(steps))), c2 = 1 / (1 - pow(beta2, Double(steps)))
        let stepSize = T(lr * c1), root = T(c2.squareRoot())
        forEachPiece(params.count, grain: elementwiseGrain) { r in
            for i in r {
                m[i] = b1 * m[i] + (1 - b1) * g[i]
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                p[i] = p[i] * decay - stepSize * m[i] / (v[i].squareRoot() * root + eps)
            }
        }
    }
}
