import AttrGuardDistributed
import AttrGuardTools
import ArgumentParser
import Foundation

/// `mpirun -np N attrguard sync-batchnorm-check`: first- and second-order gradient checks of
/// synchronized batch norm across the ranks against finite differences of the global-batch function.
struct SyncBatchNormCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync-batchnorm-check",
        abstract: "Gradient-check synchronized batch norm (first and second order, Float64) across the launched ranks.")

    @Option(help: "Images in the global batch (at least the rank count).") var batch = 8
    @Option(help: "Largest relative error accepted (exit 1 above it).") var tolerance = 1e-6

    func validate() throws {
        try requireOption("--batch", batch, in: 1...4096)
    }

    func run() throws {
        try onEveryRank("sync-batchnorm-check") { comm in
            guard batch >= comm.size else {
                throw ValidationError("--batch \(batch) must be at least the \(comm.size) ranks (each rank needs images)")
            }
            let result = try SyncBatchNormCheck.run(communicator: comm, batch: batch)
            if comm.rank == 0 { print(result) }
            if !(result.firstOrder <= tolerance && result.secondOrder <= tolerance) { throw ExitCode.failure }
        }
    }
}
