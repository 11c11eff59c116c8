/// Sums across the ranks that share a global batch, as an op on the tape: what synchronized batch
/// norm needs to normalise with the global batch's statistics through every order of backward.
///
///   y = Σ_r x_r  (every rank holds the same y)      ∂L/∂x_r = Σ_r' ∂L_r'/∂y = crossRankSum(g)
///
/// The op is its own adjoint, so its backward is again a cross-rank sum and higher orders need no
/// special code. Every rank must record the same sequence of these ops (same network, same
/// objective), so the collectives match up in the forward and in every backward.
public protocol CrossRankReducer: Sendable {
    /// Σ over ranks of `t` (small: per-channel statistics), the same on every rank.
    func sum(_ t: Tensor) -> Tensor
    /// Σ over ranks of a count (the global batch's elements per channel).
    func sum(_ n: Int) -> Int
}

public enum CrossRank {
    /// The reducer batch norm synchronizes through while bound (the trainer binds it for a
    /// step when `model.sync_batchnorm` is on); nil: each rank normalises with its own batch.
    @TaskLocal public static var reducer: (any CrossRankReducer)?
}

extension Variable {
    /// Σ over ranks of this (small) tensor; see `CrossRankReducer`.
    public func summedOverRanks(_ reducer: any CrossRankReducer) -> Variable {
        Variable.record("crossRankSum", reducer.sum(value), inputs: [self]) { ctx in
            [ctx.grad.summedOverRanks(reducer)]
        }
    }
}

/// Batch normalisation (training mode) with the statistics of the batch across all ranks:
/// mean and biased variance over every rank's [B,·,H,W], from per-rank sums. Written with
/// primitives and `summedOverRanks`, so every order of derivative is exact (and each backward
/// all-reduces the same per-channel sums a 1-rank run would take over its whole batch). Slower than
/// the fused kernels: the cost of synchronizing.
/// - Returns: y [B,C,H,W], and the global batch's mean and unbiased variance [C].
public func syncBatchNorm(_ x: Variable, weight: Variable, bias: Variable, eps: Double, reducer: any CrossRankReducer)
    -> (output: Variable, mean: Tensor, unbiasedVariance: Tensor) {
    require(x.shape.count == 4 && weight.shape == [x.shape[1]] && bias.shape == [x.shape[1]],
            "batchnorm2d: input \(Shape.describe(x.shape)) does not match weight \(Shape.describe(weight.shape))")
    let c = x.shape[1], channel = [1, c, 1, 1]
    let n = reducer.sum(x.shape[0] * x.shape[2] * x.shape[3])
    let mean = x.sum(toShape: channel).summedOverRanks(reducer) * (1 / Double(n))
    let centered = x - mean
    let variance = (centered * centered).sum(toShape: channel).summedOverRanks(reducer) * (1 / Double(n))
    let r = Variable(Tensor.scalar(1, dtype: x.dtype)) / (variance + eps).sqrt()
    let y = centered * r * weight.reshaped(channel) + bias.reshaped(channel)
    let correction = n > 1 ? Double(n) / Double(n - 1) : 1
    return (y, mean.value.reshaped([c]), unary(.affine(scale: correction, shift: 0), variance.value.reshaped([c])))
}
