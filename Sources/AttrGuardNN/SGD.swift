import AttrGuardCore

/// SGD with momentum, Nesterov and weight decay, step for step as torch.optim.SGD
/// (coupled decay) or with decoupled decay (p ← p·(1 − lr·wd) first, as SGDW).
public struct SGD: Sendable {
    public var momentum: Double
    public var dampening: Double
    public var nesterov: Bool
    public var weightDecay: Double
    public var decoupledWeightDecay: Bool
    /// The momentum buffer [P], nil before the first step (PyTorch starts it at the first gradient).
    public private(set) var velocity: Tensor?

    public init(momentum: Double = 0.9, dampening: Double = 0, nesterov: Bool = false,
                weightDecay: Double = 0, decoupledWeightDecay: Bool = false) {
        self.momentum = momentum; self.dampening = dampening; self.nesterov = nesterov
        self.weightDecay = weightDecay; self.decoupledWeightDecay = decoupledWeightDecay
    }

    /// Restores a saved momentum buffer (checkpoint resume).
    public mutating func restore(velocity: Tensor?) { self.velocity = velocity?.copy() }

    /// One step on the flat parameter buffer with the flat gradient (both [P]), in place.
    public mutating func step(parameters: inout ParameterSet, gradient: Tensor, learningRate lr: Double) {
        require(gradient.count == parameters.flat.count && gradient.dtype == parameters.dtype,
                     "SGD.step: gradient of \(gradient.count) \(gradient.dtype) for \(parameters.flat.count) \(parameters.dtype) parameters")
        let first = velocity == nil
        if first { velocity = Tensor(zeros: [gradient.count], dtype: gradient.dtype) }
        let p = parameters.flat.copy()
        switch p.dtype {
        case .float32: kernel(p, gradient, velocity!, lr, first, Float.self)
        case .float64: kernel(p, gradient, velocity!, lr, first, Double.self)
        }
        parameters.assign(flat: p)
    }

    private func kernel<T: Scalar>(_ params: Tensor, _ grad: Tensor, _ buffer: Tensor, _ lr: Double, _ first: Bool, _: T.Type) {
        let p = params.mutablePointer(T.self), g = grad.pointer(T.self), v = buffer.mutablePointer(T.self)
        let wd = T(weightDecay), mu = T(momentum), damp = T(1 - dampening), rate = T(lr)
        let decay = decoupledWeightDecay ? 1 - rate * wd : 1
        let coupled = decoupledWeightDecay ? 0 : wd
        let (hasMomentum, nesterov) = (momentum != 0, nesterov)
        forEachPiece(params.count, grain: elementwiseGrain) { r in
            for i in r {
                let d = g[i] + coupled * p[i]
                var update = d
                if hasMomentum {
                    v[i] = first ? d : mu * v[i] + damp * d
                    update = nesterov ? d + mu * v[i] : v[i]
                }
                p[i] = p[i] * decay - rate * update
            }
        }
    }
}
