import AttrGuardCore
import AttrGuardDistributed

/// Every rank all-reduces (sum, average) and broadcasts buffers of known contents in both dtypes
/// and checks the results: the first thing to run on a new machine or MPI install.
public enum AllreduceCheck {
    /// One line per dtype for this rank, and whether every check passed on every rank.
    public static func run(communicator comm: Communicator, count: Int) throws -> (lines: [String], passed: Bool) {
        let n = Double(comm.size)
        var ok = true, lines: [String] = []
        for dtype in DType.allCases {
            // rank r holds (r + 1) · (1 + i mod 7): the sum is n(n+1)/2 · (1 + i mod 7).
            let values = (0..<count).map { Double(comm.rank + 1) * Double(1 + $0 % 7) }
            let t = Tensor(shape: [count], values: values, dtype: dtype)
            try comm.barrier()
            let clock = ContinuousClock(), start = clock.now
            try comm.allreduce(t, op: .sum)
            let elapsed = clock.now - start
            let ms = elapsed.seconds * 1e3
            let got = t.doubles
            let sumOK = (0..<count).allSatisfy { abs(got[$0] - n * (n + 1) / 2 * Double(1 + $0 % 7)) < 1e-6 }
            let avg = Tensor(shape: [count], values: values, dtype: dtype)
            try comm.allreduce(avg, op: .average)
            let a = avg.doubles
            let avgOK = (0..<count).allSatisfy { abs(a[$0] - (n + 1) / 2 * Double(1 + $0 % 7)) < 1e-5 }
            var root = Tensor(repeating: Double(comm.rank), shape: [17], dtype: dtype)
            if comm.rank == 0 { root = Tensor(repeating: 42, shape: [17], dtype: dtype) }
            try comm.broadcast(root)
            let bcastOK = root.doubles.allSatisfy { $0 == 42 }
            lines.append("rank \(comm.rank)/\(comm.size) \(dtype): allreduce sum \(sumOK ? "ok" : "WRONG"), average \(avgOK ? "ok" : "WRONG"), "
                         + "broadcast \(bcastOK ? "ok" : "WRONG") (\(count) elements in \(String(format: "%.1f", ms)) ms)")
            ok = ok && sumOK && avgOK && bcastOK
        }
        return (lines, try comm.allEqual(ok ? 1 : 0) && ok)
    }
}
