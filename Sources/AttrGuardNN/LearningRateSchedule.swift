import Foundation

/// Learning rate as a function of the optimizer step, with an optional linear warm-up.
public struct LearningRateSchedule: Sendable, Equatable {
    /// The decay after warm-up: constant, ×γ every k steps, ×γ at milestones, or cosine to a minimum.
    public enum Kind: Sendable, Equatable {
        case constant
        /// × gamma every `every` steps.
        case step(every: Int, gamma: Double)
        /// × gamma at each milestone step.
        case multiStep(milestones: [Int], gamma: Double)
        /// Half-cosine from the base rate to `minimum` over `totalSteps`.
        case cosine(totalSteps: Int, minimum: Double)
    }

    public var base: Double
    public var kind: Kind
    /// Steps of linear warm-up from base/warmupSteps to base.
    public var warmupSteps: Int

    public init(base: Double, kind: Kind = .constant, warmupSteps: Int = 0) {
        self.base = base; self.kind = kind; self.warmupSteps = warmupSteps
    }

    /// The rate for step `t` (0-based).
    public func rate(at t: Int) -> Double {
        let scheduled: Double
        switch kind {
        case .constant: scheduled = base
        case let .step(every, gamma): scheduled = base * pow(gamma, Double(t / Swift.max(every, 1)))
        case let .multiStep(milestones, gamma): scheduled = base * pow(gamma, Double(milestones.filter { t >= $0 }.count))
        case let .cosine(total, minimum):
            let progress = Swift.min(Double(t) / Double(Swift.max(total, 1)), 1)
            scheduled = minimum + (base - minimum) * 0.5 * (1 + cos(Double.pi * progress))
        }
        if warmupSteps > 0 && t < warmupSteps { return scheduled * Double(t + 1) / Double(warmupSteps) }
        return scheduled
    }
}
