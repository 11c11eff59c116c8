import AttrGuardCore

/// The order of one epoch and its split into global and per-rank batches.
///
/// The global order is a permutation drawn from (seed, epoch) alone. Global batch k is
/// positions [k·B, (k+1)·B) of that order; rank r of N takes the contiguous slice
/// [r·B/N, (r+1)·B/N) of it. So the union over ranks of every global batch is the same for
/// any N that divides B. Uneven ends: the last partial global batch is dropped (drop_last), on
/// every rank alike, so all ranks run the same number of steps and collectives always match.
public struct EpochPlan: Sendable {
    public let count: Int
    public let globalBatch: Int
    public let seed: UInt64
    public let epoch: Int
    public let order: [Int]

    /// The order of epoch `epoch` over `count` images (a seeded shuffle, or 0..<count), cut into global batches; a last partial batch is dropped.
    public init(count: Int, globalBatch: Int, seed: UInt64, epoch: Int, shuffle: Bool = true) {
        self.count = count
        self.globalBatch = globalBatch
        self.seed = seed
        self.epoch = epoch
        var order = Array(0..<count)
        if shuffle {
            var rng = RandomStream(seed: seed, .epochOrder, UInt64(epoch))
            // Fisher–Yates with our own stream, so the order is the same on every platform.
            for i in stride(from: count - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                order.swapAt(i, j)
            }
        }
        self.order = order
    }

    /// Full global batches in the epoch (the remainder is dropped).
    public var steps: Int { globalBatch > 0 ? count / globalBatch : 0 }

    /// Dataset indices of global batch `step`.
    public func globalIndices(step: Int) -> ArraySlice<Int> {
        require(step >= 0 && step < steps, "EpochPlan: step \(step) outside 0..<\(steps)")
        return order[(step * globalBatch)..<((step + 1) * globalBatch)]
    }

    /// Dataset indices that rank `rank` of `size` takes from global batch `step`.
    public func localIndices(step: Int, rank: Int, size: Int) throws -> [Int] {
        guard size >= 1, globalBatch % size == 0 else {
            throw DataError(file: "epoch plan", "global batch \(globalBatch) is not divisible by \(size) ranks")
        }
        let local = globalBatch / size, start = step * globalBatch + rank * local
        require(step >= 0 && step < steps, "EpochPlan: step \(step) outside 0..<\(steps)")
        return Array(order[start..<(start + local)])
    }
}
