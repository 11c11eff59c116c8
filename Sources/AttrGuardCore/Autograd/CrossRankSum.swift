/// Sums across the ranks that share a global batch, as an op on the tape: what synchronized batch
/// norm (`syncBatchNorm`, BatchNormOps.swift) needs to normalise with the global batch's
/// statistics through every order of backward.
///
///   y = Σ_r x_r  (every rank holds the same y)      ∂L/∂x_r = Σ_r' ∂L_r'/∂y = crossRankSum(g)
///
/// The op is its own adjoint, so its backward is again a cross-rank sum and higher orders need no
/// special code. Every rank must record the same sequence of these ops (same network, same
/// objective), so the collectives match up in the forward and in every backward.
public protocol CrossRankReducer: Sendable {
    /// Σ over ranks of `t` (small: per-channel statistics), the same on every rank.
    func sum(_ t: Tensor) -> Tensor
    /// Σ over ranks of `t` and of a count (the global batch's elements per channel) in one
    /// message: batch norm's first statistic travels with the count it is divided by.
    func sum(_ t: Tensor, count: Int) -> (sum: Tensor, count: Int)
}

extension Variable {
    /// Σ over ranks of this (small) tensor; see `CrossRankReducer`.
    public func summedOverRanks(_ reducer: any CrossRankReducer) -> Variable {
        Variable.record("crossRankSum", reducer.sum(value), inputs: [self]) { ctx in
            [ctx.grad.summedOverRanks(reducer)]
        }
    }

    /// Σ over ranks of this tensor and of `count`, one all-reduce; the count is a constant (no gradient).
    public func summedOverRanks(_ reducer: any CrossRankReducer, count: Int) -> (sum: Variable, count: Int) {
        let (total, n) = reducer.sum(value, count: count)
        return (Variable.record("crossRankSum", total, inputs: [self]) { ctx in [ctx.grad.summedOverRanks(reducer)] }, n)
    }
}
