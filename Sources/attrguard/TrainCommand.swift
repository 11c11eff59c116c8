import AttrGuardDistributed
import AttrGuardTraining
import ArgumentParser
import Foundation

/// `attrguard train --config X.yaml`: the distributed trainer (run it under mpirun for N ranks).
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model from a YAML config; under mpirun every rank trains its slice of each global batch.")

    @Option(help: "Experiment config (YAML; keys in configs/README.md).") var config: String
    @Option(name: .customLong("set"), help: "Override a config key, e.g. --set optim.lr=0.05 (repeatable).") var overrides: [String] = []
    @Flag(help: "Continue from the newest checkpoint in checkpoint.dir.") var resume = false
    @Flag(help: "Continue from the newest checkpoint in checkpoint.dir when it holds one, else start afresh, replacing what the failed run logged (what launch/mpirun.sh --max-restarts passes).")
    var resumeIfCheckpoint = false
    @Option(help: "Stop after this many steps (a planned interruption: the schedule still spans the whole run).") var stopAfter: Int?
    @Flag(help: "Resume from a checkpoint without a checksum trailer (an old or damaged file), unverified.") var allowUncheckedCheckpoint = false
    @Flag(help: "A fresh run may replace an earlier run's non-empty log.metrics (else it is refused).") var overwriteLog = false

    func run() throws {
        StopSignals.install()
        try onEveryRank("train") { comm in
            let cfg = try TrainingConfig.load(path: config, overrides: overrides)
            var trainer = Trainer(config: cfg, communicator: comm)
            trainer.progress = { line in print(line); fflushStandardOutput() }
            trainer.stopRequest = { StopSignals.pending }
            trainer.stopPolling = { StopSignals.deferring($0) }
            // A restart of a run that failed before its first checkpoint starts it again: the log
            // holds only that attempt's records.
            let hasCheckpoint = try cfg.checkpointDir.map { !(try Checkpoint.list(directory: $0).isEmpty) } ?? false
            let resuming = resume || (resumeIfCheckpoint && hasCheckpoint)
            trainer.overwriteLog = overwriteLog || (resumeIfCheckpoint && !resuming)
            trainer.allowUncheckedCheckpoint = allowUncheckedCheckpoint
            do {
                let summary = try trainer.run(resume: resuming, stopAfter: stopAfter)
                if comm.rank == 0 { print("train: done after \(summary.steps) steps") }
            } catch let stopped as Trainer.Stopped {
                // Every rank got here together (the request is all-reduced): a clean exit, not an abort.
                if comm.rank == 0 {
                    FileHandle.standardError.write("attrguard train: \(StopSignals.name(stopped.signal)): \(stopped)\n".data(using: .utf8)!)
                }
                throw ExitCode(StopSignals.exitCode)
            }
        }
    }
}

/// Progress lines must reach a pipe (mpirun, tee) as they happen.
func fflushStandardOutput() { _ = fflush(nil) }
