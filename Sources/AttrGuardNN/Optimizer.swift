import AttrGuardCore
import Foundation

/// The optimizer of a run: its kind and its state buffers by name (for checkpoints and averaging).
public enum Optimizer: Sendable {
    case sgd(SGD)
    case adamW(AdamW)

    /// One step of whichever optimizer this is.
    public mutating func step(parameters: inout ParameterSet, gradient: Tensor, learningRate: Double) {
        switch self {
        case .sgd(var o): o.step(parameters: &parameters, gradient: gradient, learningRate: learningRate); self = .sgd(o)
        case .adamW(var o): o.step(parameters: &parameters, gradient: gradient, learningRate: learningRate); self = .adamW(o)
        }
    }

    /// State tensors [P] by name: `velocity` (SGD) or `exp_avg`, `exp_avg_sq` (AdamW).
    public var buffers: [String: Tensor] {
        switch self {
        case .sgd(let o): return o.velocity.map { ["velocity": $0] } ?? [:]
        case .adamW(let o):
            guard let m = o.firstMoment, let v = o.secondMoment else { return [:] }
            return ["exp_avg": m, "exp_avg_sq": v]
        }
    }

    /// Steps taken (AdamW's bias correction needs it).
    public var steps: Int {
        if case .adamW(let o) = self { return o.steps }
        return 0
    }

    /// State from a checkpoint (`buffers` by the names of `buffers`).
    public mutating func restore(buffers: [String: Tensor], steps: Int) {
        switch self {
        case .sgd(var o): o.restore(velocity: buffers["velocity"]); self = .sgd(o)
        case .adamW(var o): o.restore(firstMoment: buffers["exp_avg"], secondMoment: buffers["exp_avg_sq"], steps: steps); self = .adamW(o)
        }
    }
}
