import AttrGuardAttribution
import AttrGuardCore
import AttrGuardDistributed
import AttrGuardNN

/// What one rank holds of the model being trained.
public struct TrainingState {
    public let network: Network
    public var parameters: ParameterSet
    public var statistics: [String: RunningStatistic]
    public var optimizer: Optimizer
    /// Optimizer steps taken so far.
    public var step: Int

    /// Fresh state: the network's initial batch-norm statistics, step 0.
    public init(network: Network, parameters: ParameterSet, optimizer: Optimizer) {
        self.network = network
        self.parameters = parameters
        self.statistics = network.initialStatistics(dtype: parameters.dtype)
        self.optimizer = optimizer
        self.step = 0
    }
}

/// A training step that cannot go on (a non-finite loss or gradient, ranks whose weights differ), naming the step
/// counted from 1, as the progress line counts.
public struct TrainingError: Error, CustomStringConvertible {
    public let step: Int
    public let message: String
    public var description: String { "step \(step): \(message)" }
}

/// How a training step's gradient reaches the other ranks; built once per run.
public enum GradientSync {
    /// This rank's gradient and loss terms as they are: one process, or `train.sync: weights`
    /// (the weights are averaged every K steps instead).
    case local
    /// The ranks' average, through buckets all-reduced during the backward as their gradients
    /// become final; the loss terms are averaged too.
    case averaged(GradientBuckets, Communicator)

    /// Averaged across `communicator`'s ranks when it has several, else local.
    public static func across(_ communicator: Communicator, parameters: ParameterSet, bucketBytes: Int) -> GradientSync {
        communicator.size > 1
            ? .averaged(GradientBuckets(layoutOf: parameters, bucketBytes: bucketBytes, communicator: communicator), communicator) : .local
    }
}

/// What one training step reports: the objective's terms in their order (the ranks' average under
/// `GradientSync.averaged`), ‖∇θ total‖₂ of the gradient applied, and diagnostics asked for
/// (activation agreement per layer).
public struct StepResult: Sendable {
    public var terms: [(name: String, value: Double)]
    public var gradNorm: Double
    public var diagnostics: [(name: String, value: Double)] = []

    /// A term's or diagnostic's value by name ("grad_norm" too).
    public subscript(_ name: String) -> Double? { values[name] }
    /// The objective's total.
    public var total: Double { self["total"]! }
    /// Every value by name, as the metrics log records them.
    public var values: [String: Double] {
        Dictionary(terms + diagnostics + [("grad_norm", gradNorm)], uniquingKeysWith: { a, _ in a })
    }
}

/// One optimizer step on this rank's part of the global batch: objective on the tape, one
/// backward for the parameter gradients, their average across ranks as `sync` says, the same
/// optimizer step everywhere.
/// With `activationAgreement`, the result's diagnostics hold each activation layer's share of units
/// in the same state at x and at the regularizer's x′ (batch statistics, as the step sees them),
/// `activation_agreement_<layer>`. Throws before the update when a term is not finite.
public func trainStep(_ state: inout TrainingState, objective: Objective, perturbation: Perturbation,
                      x: Tensor, labels: [Int], learningRate: Double, range: PixelRange,
                      noise: PerturbationNoise, sync: GradientSync, batchNormReducer: (any CrossRankReducer)? = nil,
                      activationAgreement: Bool = false) throws -> StepResult {
    let bound = state.parameters.variables()
    var model = Model(network: state.network, parameters: bound, statistics: state.statistics, mode: .training,
                      batchNormReducer: batchNormReducer)
    var attack = Model(network: state.network, parameters: BoundParameters(names: bound.names, variables: bound.variables.map(\.detached)),
                       statistics: state.statistics, mode: perturbation.attackMode, batchNormReducer: batchNormReducer)
    let perturbed = objective.needsPerturbation
        ? try perturb(x, labels: labels, with: perturbation, model: &attack, range: range, noise: noise) ?? x : nil
    let terms = try objective.terms(&model, x: x, perturbed: perturbed, probe: objective.needsProbe ? noise.hessianProbe(x) : nil, labels: labels)
    let flat: Tensor
    switch sync {
    case .averaged(let buckets, _):
        // Buckets start their all-reduce as soon as their gradients are final, during the backward.
        buckets.reset()
        _ = try grad(of: terms.total, wrt: bound.variables, releasingGraph: true, onReady: buckets.ready)
        flat = try buckets.finish()
    case .local:
        flat = state.parameters.pack(try grad(of: terms.total, wrt: bound.variables, releasingGraph: true))
    }

    var names = terms.scalars.map(\.name)
    var local = terms.scalars.map(\.value.value.item)
    if activationAgreement, let perturbed {
        let (network, parameters, statistics) = (state.network, attack.parameters, state.statistics)
        let at = { network.preActivations($0, parameters, statistics: statistics, mode: .trainingFrozenStatistics,
                                          batchNormReducer: batchNormReducer) }
        for (clean, moved) in zip(at(x), at(perturbed)) {
            let shares = AttrGuardAttribution.activationAgreement(clean.values, moved.values)
            names.append("activation_agreement_\(clean.layer)")
            local.append(shares.reduce(0, +) / Double(max(shares.count, 1)))
        }
    }
    let averaged: [Double]
    switch sync {
    case .averaged(_, let communicator): averaged = try communicator.allreduce(local, op: .average, label: "loss terms")
    case .local: averaged = local
    }
    if let bad = zip(names, averaged).first(where: { !$0.1.isFinite }) {
        throw TrainingError(step: state.step + 1, message: "\(bad.0) is \(bad.1); stopping before the update")
    }
    // ‖∇θ total‖₂ of the averaged gradient: a plateau or a blow-up shows here before the loss moves.
    let gradNorm = l2Norm(flat)
    guard gradNorm.isFinite else {
        throw TrainingError(step: state.step + 1, message: "the gradient is not finite (‖g‖ = \(gradNorm)); stopping before the update")
    }
    state.optimizer.step(parameters: &state.parameters, gradient: flat, learningRate: learningRate)
    state.statistics = model.statistics
    state.step += 1
    let termCount = terms.scalars.count
    return StepResult(terms: Array(zip(names.prefix(termCount), averaged.prefix(termCount))), gradNorm: gradNorm,
                      diagnostics: Array(zip(names.dropFirst(termCount), averaged.dropFirst(termCount))))
}

extension GradientBuckets {
    /// Buckets over the flat layout of `parameters`.
    public convenience init(layoutOf parameters: ParameterSet, bucketBytes: Int, communicator: Communicator) {
        self.init(counts: parameters.specs.map { Shape.count($0.shape) }, dtype: parameters.dtype, bucketBytes: bucketBytes,
                  communicator: communicator)
    }
}

/// ‖t‖₂, accumulated in Double.
func l2Norm(_ t: Tensor) -> Double {
    var s = 0.0
    switch t.dtype {
    case .float32: let p = t.pointer(Float.self); for i in 0..<t.count { s += Double(p[i]) * Double(p[i]) }
    case .float64: let p = t.pointer(Double.self); for i in 0..<t.count { s += p[i] * p[i] }
    }
    return s.squareRoot()
}
