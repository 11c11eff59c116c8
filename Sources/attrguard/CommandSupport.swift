import AttrGuardAttribution
import AttrGuardCore
import AttrGuardData
import AttrGuardDistributed
import AttrGuardTools
import AttrGuardTraining
import ArgumentParser
import Foundation

/// The options of commands that read a trained checkpoint (eval, export).
struct CheckpointOptions: ParsableArguments {
    @Option(help: "Checkpoint file, or a checkpoint directory (its newest).") var checkpoint: String
    @Option(help: "Config (default: the one stored in the checkpoint).") var config: String?
    @Option(name: .customLong("set"), help: "Override a config key (repeatable).") var overrides: [String] = []
    @Flag(help: "Read a checkpoint without a checksum trailer (an old or damaged file), unverified.") var allowUncheckedCheckpoint = false

    /// The checkpoint file and the config it is read with (file or directory; stored config unless one is given).
    func resolve() throws -> (path: String, config: TrainingConfig) {
        let path = try Checkpoint.latest(in: checkpoint)
        let cfg = try config.map { try TrainingConfig.load(path: $0, overrides: overrides) }
            ?? TrainingConfig.parse(yaml: Checkpoint.configText(path, allowUnchecked: allowUncheckedCheckpoint), file: "\(path) (stored config)", overrides: overrides)
        return (path, cfg)
    }
}

/// The one failure path of the commands that run on every rank: an error is printed with the
/// rank, the job is aborted (no rank is left waiting in a collective) and the exit status is 1;
/// an `ExitCode` the body throws (a stop request, a failed check) passes through after MPI is
/// finalized on every rank, as does success.
func onEveryRank(_ command: String, _ body: (Communicator) throws -> Void) throws {
    let comm = Communicator.world
    do {
        try body(comm)
    } catch let exit as ExitCode {
        comm.finalize()
        throw exit
    } catch {
        FileHandle.standardError.write("attrguard \(command): rank \(comm.rank) of \(comm.size): \(error)\n".data(using: .utf8)!)
        if comm.size > 1 { comm.abort(code: 1) }
        throw ExitCode.failure
    }
    comm.finalize()
}

/// The one failure path of the single-process commands: an error is printed after `command`
/// ("results", "data check"), after "attrguard", on stderr and the exit status is 1; an
/// `ExitCode` the body throws (a failed check) and a `ValidationError` (a bad option value, which
/// ArgumentParser prints with the usage, status 64) pass through.
func reportingFailure(_ command: String, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let exit as ExitCode {
        throw exit
    } catch let usage as ValidationError {
        throw usage
    } catch {
        FileHandle.standardError.write("attrguard \(command): \(error)\n".data(using: .utf8)!)
        throw ExitCode.failure
    }
}

extension DType: ExpressibleByArgument {}
extension StepBenchmark.Method: ExpressibleByArgument {}
extension StepBenchmark.Model: ExpressibleByArgument {}
extension ImageFolder.ClassOrder: ExpressibleByArgument {}
extension EvaluationProtocol: ExpressibleByArgument {}
extension AttackSelection: ExpressibleByArgument {}
extension SamplingNoise: ExpressibleByArgument {}
