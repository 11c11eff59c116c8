import AttrGuardCore

/// Gradient averaging in buckets that start while the backward pass is still running.
///
/// The flat gradient buffer [P] is cut into buckets of consecutive parameters of about
/// `bucketBytes`. The autograd engine reports each parameter's gradient as soon as no pending
/// node can add to it (`grad(…, onReady:)`); the gradient is copied into its slot, and when a
/// bucket's last parameter arrives the bucket's in-place all-reduce starts (MPI_Iallreduce), so
/// communication overlaps the rest of the backward. `finish` waits and divides by the rank count.
/// A run makes one from its parameter layout and `reset`s it each step (DDP's Reducer: the bucket
/// layout fixed, the flat buffer reused).
public final class GradientBuckets {
    public let flat: Tensor
    let communicator: Communicator
    let offsets: [Int], counts: [Int]
    let bucketOf: [Int]
    let bucketRanges: [Range<Int>]   // element ranges in `flat`
    let sizes: [Int]
    var remaining: [Int]
    var pending: [PendingReduction] = []
    var failure: Error?

    /// - Parameters: counts: elements of each parameter in flat-buffer order.
    public init(counts: [Int], dtype: DType, bucketBytes: Int, communicator: Communicator) {
        self.communicator = communicator
        self.counts = counts
        var offsets: [Int] = [], total = 0
        for c in counts { offsets.append(total); total += c }
        self.offsets = offsets
        flat = Tensor(zeros: [total], dtype: dtype)
        var bucketOf: [Int] = [], ranges: [Range<Int>] = [], sizes: [Int] = []
        var start = 0, bytes = 0, members = 0
        for (i, c) in counts.enumerated() {
            bucketOf.append(ranges.count)
            bytes += c * dtype.byteSize
            members += 1
            if bytes >= bucketBytes || i == counts.count - 1 {
                ranges.append(start..<(offsets[i] + c))
                sizes.append(members)
                start = offsets[i] + c; bytes = 0; members = 0
            }
        }
        self.bucketOf = bucketOf
        bucketRanges = ranges
        self.sizes = sizes
        remaining = sizes
    }

    /// Ready for the next step's backward (every slot of `flat` is written again before it is read).
    public func reset() {
        require(pending.isEmpty || remaining.allSatisfy { $0 == 0 }, "GradientBuckets.reset: a step's reductions are still open")
        remaining = sizes
        pending = []
        failure = nil
    }

    public var bucketCount: Int { bucketRanges.count }

    /// The engine's onReady callback: parameter `index` has its final gradient.
    public func ready(_ index: Int, _ gradient: Variable) {
        guard failure == nil else { return }
        var slot = Tensor(storage: flat.storage, shape: gradient.shape, offset: offsets[index])
        slot.copyElements(from: gradient.value)
        let b = bucketOf[index]
        remaining[b] -= 1
        do {
            if remaining[b] == 0 {
                let r = bucketRanges[b]
                pending.append(try communicator.startAllreduce(Tensor(storage: flat.storage, shape: [r.count], offset: r.lowerBound),
                                                                label: "gradient all-reduce (bucket \(b + 1) of \(bucketRanges.count))"))
            }
            try communicator.progress(pending)
        } catch { failure = error }
    }

    /// Waits for every bucket and averages; returns the flat gradient [P].
    public func finish() throws -> Tensor {
        if let failure { throw failure }
        require(remaining.allSatisfy { $0 == 0 }, "GradientBuckets: \(remaining.filter { $0 > 0 }.count) buckets never completed")
        try communicator.wait(pending)
        pending = []
        if communicator.size > 1 { scaleInPlace(flat, 1 / Double(communicator.size)) }
        return flat
    }
}
