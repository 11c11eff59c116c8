import AttrGuardCore
import AttrGuardDistributed
import AttrGuardTools
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
        try onEveryRank("allreduce-check") { comm in
            let (lines, passed) = try AllreduceCheck.run(communicator: comm, count: count)
            for line in lines { print(line) }
            if !passed { throw ExitCode.failure }
        }
    }
}
