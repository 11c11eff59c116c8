import AttrGuardCore

/// Synchronized batch norm's cross-rank sums over the communicator (blocking all-reduces of a few
/// per-channel values), counted per step. A failed all-reduce is kept and raised by `check()`
/// after the step: the reducer is called inside tape ops, which cannot throw.
public final class StatisticsAllreduce: CrossRankReducer, @unchecked Sendable {
    public let communicator: Communicator
    /// All-reduces and bytes sent since creation (what the progress line and metrics report).
    public private(set) var calls = 0
    public private(set) var bytes = 0
    private var failure: Error?

    public init(_ communicator: Communicator) { self.communicator = communicator }

    public func sum(_ t: Tensor) -> Tensor {
        let out = t.copy()
        calls += 1
        bytes += t.count * t.dtype.byteSize
        do { try communicator.allreduce(out, op: .sum, label: "synchronized batch-norm all-reduce (#\(calls) of the step)") } catch { failure = failure ?? error }
        return out
    }

    /// [t…, count] as Float64 (a count past 2^24 elements stays exact), one message.
    public func sum(_ t: Tensor, count: Int) -> (sum: Tensor, count: Int) {
        calls += 1
        bytes += (t.count + 1) * 8
        do {
            let total = try communicator.allreduce(t.doubles + [Double(count)], op: .sum, label: "synchronized batch-norm statistics (#\(calls) of the step)")
            return (Tensor(shape: t.shape, values: Array(total.dropLast()), dtype: t.dtype), Int(total.last!))
        } catch {
            failure = failure ?? error
            return (t.copy(), count)
        }
    }

    /// Raises the first all-reduce failure of the step, if any.
    public func check() throws { if let failure { throw failure } }
}
