import AttrGuardCore
import AttrGuardDistributed
import ArgumentParser
import Foundation

/// `attrguard allreduce-check`: every rank all-reduces a known buffer and checks the result.
struct AllreduceCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce-check",
        abstract: "All-reduce (sum, average) and broadcast a buffer across MPI ranks and verify it on every rank.")

    @Option(help: "Elements in the buffer.") var count = 1_000_003

    func validate() throws {
        try requireOption("--count", count, in: 1...(1 << 31) - 1)   // MPI counts are Int32
    }

    func run() throws {
        let comm = Communicator.world
        let n = Double(comm.size)
        var ok = true
        for dtype in DType.allCases {
            // rank r holds (r + 1) · (1 + i mod 7): the sum is n(n+1)/2 · (1 + i mod 7).
            let values = (0..<count).map { Double(comm.rank + 1) * Double(1 + $0 % 7) }
            let t = Tensor(shape: [count], values: values, dtype: dtype)
            try comm.barrier()
            let clock = ContinuousClock(), start = clock.now
            try comm.allreduce(t, op: .sum)
            let elapsed = clock.now - start
            let ms = Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) * 1e-15
            let got = t.doubles
            let sumOK = (0..<count).allSatisfy { abs(got[$0] - n * (n + 1) / 2 * Double(1 + $0 % 7)) < 1e-6 }
            let avg = Tensor(shape: [count], values: values, dtype: dtype)
            try comm.allreduce(avg, op: .average)
            let a = avg.doubles
            let avgOK = (0..<count).allSatisfy { abs(a[$0] - (n + 1) / 2 * Double(1 + $0 % 7)) < 1e-5 }
            let b = Tensor(repeating: Double(comm.rank), shape: [17], dtype: dtype)
            var root = b
            if comm.rank == 0 { root = Tensor(repeating: 42, shape: [17], dtype: dtype) }
            try comm.broadcast(root)
            let bcastOK = root.doubles.allSatisfy { $0 == 42 }
            print("rank \(comm.rank)/\(comm.size) \(dtype): allreduce sum \(sumOK ? "ok" : "WRONG"), average \(avgOK ? "ok" : "WRONG"), broadcast \(bcastOK ? "ok" : "WRONG")"
                  + String(format: " (%d elements in %.1f ms)", count, ms))
            ok = ok && sumOK && avgOK && bcastOK
        }
        let agree = try comm.allEqual(ok ? 1 : 0)
        comm.finalize()
        if !(ok && agree) { throw ExitCode.failure }
    }
}
