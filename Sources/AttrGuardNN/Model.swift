import AttrGuardCore

/// A network with bound parameters and its batch-norm state: what one forward call needs.
public struct Model {
    public let network: Network
    public let parameters: BoundParameters
    public var statistics: [String: RunningStatistic]
    public var mode: ForwardMode
    /// Synchronized batch norm: the global batch's statistics, summed across ranks through this
    /// reducer, in the training modes (`model.sync_batchnorm`); nil: each rank's own batch.
    public var batchNormReducer: (any CrossRankReducer)?

    public init(network: Network, parameters: BoundParameters, statistics: [String: RunningStatistic], mode: ForwardMode,
                batchNormReducer: (any CrossRankReducer)? = nil) {
        self.network = network; self.parameters = parameters; self.statistics = statistics; self.mode = mode
        self.batchNormReducer = batchNormReducer
    }

    /// Logits [B, classes] for x [B,C,H,W]: one forward call.
    public mutating func logits(_ x: Variable) -> Variable {
        network(x, parameters, statistics: &statistics, mode: mode, batchNormReducer: batchNormReducer)
    }
}
