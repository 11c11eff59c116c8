import AttrGuardAttribution
import AttrGuardCore
import AttrGuardData
import AttrGuardDistributed
import AttrGuardNN
import AttrGuardReport
import Foundation

/// `attrguard train`: one model trained by every rank of the communicator.
///
/// Per step each rank loads its slice of the global batch (EpochPlan), runs the objective on the
/// tape, and the parameter gradients are averaged by bucketed all-reduces that start during the
/// backward (GradientBuckets); every rank then takes the same optimizer step, so weights stay
/// identical (checked by an all-reduced hash every `consistency_every` steps). With
/// `model.sync_batchnorm` batch norm also sums its statistics across ranks (the step's models carry
/// a `batchNormReducer`). A stop
/// request (a signal on any rank) is agreed on after each step: the step is checkpointed and the
/// run ends with `Stopped`. In `sync: weights` mode ranks step on
/// their own gradients and average weights and momentum every `sync_every` steps (local SGD:
/// K× less communication, at the cost of ranks drifting apart between averages).
public struct Trainer {
    public let config: TrainingConfig
    public let communicator: Communicator
    /// Rank 0's progress lines (the CLI prints them).
    public var progress: (String) -> Void = { print($0) }
    /// Rank 0's log records, as the metrics log gets them, every `log_every` steps and at the end.
    public var onLog: (LogRecord) -> Void = { _ in }

    /// One logged step: where the run is and every value of its last step (loss terms,
    /// `grad_norm`, diagnostics), the ranks' average.
    public struct LogRecord: Sendable {
        public var step: Int, epoch: Int, learningRate: Double, imagesPerSecond: Double
        public var values: [String: Double]
    }
    /// A signal number when this process has been asked to stop (preemption), else 0; polled
    /// once a step and agreed on by all ranks.
    public var stopRequest: () -> Int32 = { 0 }
    /// Told `true` when the step loop starts polling `stopRequest` and `false` when it stops: a
    /// stop request outside that window (loading, resuming, after the last step) has nothing to
    /// finish, so the CLI ends the process at once rather than deferring it to a poll that never comes.
    public var stopPolling: (Bool) -> Void = { _ in }
    /// A fresh run may replace an earlier run's non-empty `log.metrics` (`--overwrite-log`).
    public var overwriteLog = false
    /// Resume may read a checkpoint without the checksum trailer, unverified (`--allow-unchecked-checkpoint`).
    public var allowUncheckedCheckpoint = false

    public init(config: TrainingConfig, communicator: Communicator) {
        self.config = config
        self.communicator = communicator
    }

    /// The run ended early on request (a signal) after finishing `step`, with a checkpoint of
    /// that step at `checkpoint` (nil without a checkpoint.dir).
    public struct Stopped: Error, CustomStringConvertible {
        public let signal: Int32
        public let step: Int
        public let checkpoint: String?

        public var description: String {
            "stopped on request after step \(step): "
                + (checkpoint.map { "checkpoint \($0) written; continue with --resume" } ?? "no checkpoint.dir, nothing saved")
        }
    }

    /// What a finished invocation reports: steps done, the last logged terms, the last test accuracy, the weights.
    public struct Summary {
        public var steps: Int
        public var lastTerms: [String: Double]
        public var testAccuracy: Double?
        public var parameters: ParameterSet
    }

    /// - Parameter stopAfter: end this invocation after that many steps, as an interruption would
    ///   (the schedule still spans the whole run; resume continues it).
    public func run(resume: Bool, stopAfter: Int? = nil) throws -> Summary {
        // Threads per rank: the libraries' pools, and our kernels' split while the run lasts.
        if let threads = config.threads { KernelThreads.configureLibraries(threads) }
        return try KernelThreads.$count.withValue(config.threads ?? KernelThreads.fromEnvironment) {
            let timeout = config.collectiveTimeout > 0 ? config.collectiveTimeout : nil
            communicator.collectiveTimeout = timeout.map { $0 * TrainingConfig.firstStepTimeoutFactor }
            communicator.activity = "start-up"
            defer { communicator.collectiveTimeout = nil }
            var run = try TrainingRun(self, resume: resume, stopAfter: stopAfter)
            stopPolling(true)
            defer { stopPolling(false) }
            while run.state.step < run.stopAt {
                if run.state.step > run.firstStep { communicator.collectiveTimeout = timeout }
                communicator.activity = "step \(run.state.step + 1)"
                let batch = try run.nextBatch()
                try run.step(batch)
                try run.averageWeightsIfDue()
                let stop = try run.agreeOnStop()
                try run.checkConsistencyIfDue()
                try run.logIfDue(batch, stopping: stop != 0)
                let done = run.state.step, last = done == run.stopAt || stop != 0
                let evaluate = config.evalEvery > 0 && done % config.evalEvery == 0
                let checkpoint = config.checkpointDir != nil && (last || config.checkpointEvery > 0 && done % config.checkpointEvery == 0)
                try run.averageStatistics()
                if evaluate || (last && stop == 0) {   // a stop request saves its time for the checkpoint
                    communicator.activity = "test evaluation after step \(done)"
                    try run.evaluate(batch)
                }
                if checkpoint {
                    communicator.activity = "checkpoint of step \(done)"
                    try run.checkpoint()
                }
                if stop != 0 {
                    throw Stopped(signal: stop, step: done, checkpoint: config.checkpointDir.map { Checkpoint.path(directory: $0, step: done) })
                }
            }
            return Summary(steps: run.state.step, lastTerms: run.lastTerms, testAccuracy: run.testAccuracy, parameters: run.state.parameters)
        }
    }
}

/// One invocation of `train`: what the loop in `Trainer.run` steps through, one named piece each.
private struct TrainingRun {
    let trainer: Trainer
    var config: TrainingConfig { trainer.config }
    var communicator: Communicator { trainer.communicator }
    let network: Network
    let train: ImageStore, test: ImageStore
    let loader: BatchLoader
    let schedule: LearningRateSchedule
    let stepsPerEpoch: Int, totalSteps: Int, stopAt: Int
    /// The run's gradient reducer (bucket layout from the parameters; nil on one rank or with `sync: weights`).
    /// How each step's gradient reaches the other ranks (`train.sync`).
    let sync: GradientSync
    /// Rank 0's lock on checkpoint.dir, held for the invocation (one writer per run directory).
    let runLock: RunDirectoryLock?
    var state: TrainingState
    var plan: EpochPlan
    var metrics: MetricsLog
    var lastTerms: [String: Double] = [:]
    var testAccuracy: Double?
    let clock = ContinuousClock()
    var windowStart: ContinuousClock.Instant, windowSteps = 0
    let runStart: ContinuousClock.Instant, firstStep: Int

    /// A rank's slice of one global batch.
    struct Batch {
        let epoch: Int
        let x: Tensor
        let labels: [Int]
        let noise: PerturbationNoise
        let learningRate: Double
    }

    /// Checks the config against the data and the rank count, prepares checkpoint.dir, starts or
    /// resumes the state, and gives every rank rank 0's weights.
    init(_ trainer: Trainer, resume: Bool, stopAfter: Int?) throws {
        self.trainer = trainer
        let config = trainer.config, communicator = trainer.communicator
        network = try Network(layers: config.layers, inputShape: config.inputShape)
        (train, test) = try loadDatasets(config)
        let classes = network.outputShape[0]
        if let bad = train.labels.first(where: { $0 >= classes }) {
            throw ConfigError(file: config.dataPath, key: "model.classes", message: "\(classes) classes, but the data has label \(bad)")
        }
        plan = EpochPlan(count: train.count, globalBatch: config.globalBatch, seed: config.seed, epoch: 0)
        guard plan.steps > 0 else {
            throw ConfigError(file: config.file, key: "train.global_batch", message: "\(config.globalBatch) is larger than the \(train.count) training images")
        }
        guard config.globalBatch % communicator.size == 0 else {
            throw ConfigError(file: config.file, key: "train.global_batch", message: "\(config.globalBatch) is not divisible by \(communicator.size) ranks")
        }
        stepsPerEpoch = plan.steps
        totalSteps = min(config.maxSteps ?? Int.max, config.epochs * stepsPerEpoch)
        schedule = config.resolvedSchedule(stepsPerEpoch: stepsPerEpoch, totalSteps: totalSteps)
        runLock = try config.checkpointDir.flatMap { communicator.rank == 0 ? try RunDirectoryLock(directory: $0, what: "checkpoint.dir") : nil }
        if let dir = config.checkpointDir {
            // A fresh run must not mix its checkpoints (and metrics) with an earlier run's: the "keep
            // newest" rule would delete the new ones and --resume would pick the old model.
            if !resume, let newest = try Checkpoint.list(directory: dir).last {
                throw ConfigError(file: dir, key: "checkpoint.dir", message: "holds an earlier run's checkpoints (newest: step \(newest)); "
                                  + "continue that run with --resume, or give this one another checkpoint.dir (nothing was written)")
            }
            if communicator.rank == 0 { Checkpoint.clearStaleTemporaries(directory: dir) }
        }
        var rng = RandomStream(seed: config.seed, .parameters)
        state = TrainingState(network: network, parameters: ParameterSet(network: network, dtype: config.dtype, rng: &rng),
                              optimizer: config.optimizer)
        if resume { try Self.restore(&state, trainer, network: network, totalSteps: totalSteps) }
        // One model: rank 0's weights everywhere (they are equal already when seeds agree).
        try communicator.broadcast(state.parameters.flat, label: "broadcast of rank 0's weights")
        sync = config.sync == .gradients
            ? GradientSync.across(communicator, parameters: state.parameters, bucketBytes: config.bucketBytes) : .local
        loader = BatchLoader(store: train, augmentation: config.augmentation, normalization: config.normalization, seed: config.seed)
        // On resume, records past the checkpoint's step were logged by the interrupted run and are logged again.
        metrics = try MetricsLog(path: communicator.rank == 0 ? config.metricsPath : nil, resume: resume,
                                 keepingSteps: resume ? state.step : nil, overwrite: trainer.overwriteLog)
        let first = state.step
        stopAt = min(totalSteps, stopAfter.map { first + $0 } ?? totalSteps)
        windowStart = clock.now; runStart = clock.now; firstStep = first
        if communicator.rank == 0 {
            trainer.progress("train: \(communicator.size) rank(s), \(network.parameterCount) parameters, \(config.objective.name), "
                             + "global batch \(config.globalBatch), \(stepsPerEpoch) steps/epoch, steps \(state.step)..<\(totalSteps)")
        }
    }

    /// The newest checkpoint that reads back whole; a damaged newer one (a crash mid-copy, a
    /// flipped byte) is named and skipped rather than ending the resume.
    static func restore(_ state: inout TrainingState, _ trainer: Trainer, network: Network, totalSteps: Int) throws {
        let config = trainer.config
        guard let dir = config.checkpointDir else { throw ConfigError(file: config.file, key: "checkpoint.dir", message: "--resume needs a checkpoint directory") }
        var loaded: (String, Checkpoint)?
        for step in try Checkpoint.list(directory: dir).reversed() where loaded == nil {
            let candidate = Checkpoint.path(directory: dir, step: step)
            do { loaded = (candidate, try Checkpoint.read(candidate, network: network, allowUnchecked: trainer.allowUncheckedCheckpoint)) } catch {
                if trainer.communicator.rank == 0 { trainer.progress("skipping \(error); trying the previous checkpoint") }
            }
        }
        guard let (path, c) = loaded else { throw ModelFileError(file: dir, "holds no readable checkpoint (step-*.ckpt) to resume from") }
        guard c.parameters.dtype == config.dtype else {
            throw ModelFileError(file: path, "holds \(c.parameters.dtype) weights, the config trains in \(config.dtype)")
        }
        guard c.step <= totalSteps else {
            throw ConfigError(file: path, key: "train.max_steps", message: "the checkpoint is at step \(c.step), past this run's "
                              + "last step \(totalSteps) (train.max_steps, train.epochs); raise them to continue it")
        }
        state.parameters = c.parameters
        state.optimizer.restore(buffers: c.optimizerBuffers, steps: c.optimizerSteps)
        state.statistics = c.statistics
        state.step = c.step
        let size = trainer.communicator.size
        if trainer.communicator.rank == 0 {
            trainer.progress("resumed from \(path) at step \(c.step)" + (c.worldSize != size ? " (written by \(c.worldSize) ranks, now \(size))" : ""))
            if c.worldSize != size && !network.batchNormLayers.isEmpty && !config.syncBatchNorm {
                trainer.progress("warning: batch norm normalizes each rank's own \(config.globalBatch / size) images (model.sync_batchnorm is off), "
                                 + "\(config.globalBatch / c.worldSize) before: from here the run differs from one continued on \(c.worldSize) ranks")
            }
        }
    }

    /// This rank's images of the step's global batch, their noise keys and the learning rate.
    mutating func nextBatch() throws -> Batch {
        let step = state.step, epoch = step / stepsPerEpoch
        if epoch != plan.epoch { plan = EpochPlan(count: train.count, globalBatch: config.globalBatch, seed: config.seed, epoch: epoch) }
        let indices = try plan.localIndices(step: step % stepsPerEpoch, rank: communicator.rank, size: communicator.size)
        let (x, labels) = try loader.batch(indices, epoch: epoch, dtype: config.dtype)
        return Batch(epoch: epoch, x: x, labels: labels, noise: PerturbationNoise(seed: config.seed, keys: indices.map { UInt64(step) << 32 | UInt64($0) }),
                     learningRate: schedule.rate(at: step))
    }

    /// The objective, the averaged gradient and the optimizer step; with synchronized batch norm
    /// every batch-norm layer of the step (forward, attack, each backward) sums its statistics
    /// across ranks, counted for the log. A failure names the last checkpoint kept.
    mutating func step(_ batch: Batch) throws {
        let reducer = config.syncBatchNorm ? StatisticsAllreduce(communicator) : nil
        do {
            lastTerms = try trainStep(&state, objective: config.objective, perturbation: config.perturbation, x: batch.x, labels: batch.labels,
                                      learningRate: batch.learningRate, range: config.pixelRange, noise: batch.noise, sync: sync,
                                      batchNormReducer: reducer, activationAgreement: config.logActivationAgreement).values
        } catch let e as TrainingError {
            throw TrainingError(step: e.step, message: e.message + lastCheckpointNote)
        }
        if let reducer {
            try reducer.check()
            lastTerms["sync_bn_allreduces"] = Double(reducer.calls)
            lastTerms["sync_bn_kib"] = Double(reducer.bytes) / 1024
        }
    }

    /// "; last checkpoint (step N) kept", or nothing without one.
    var lastCheckpointNote: String {
        config.checkpointDir.flatMap { try? Checkpoint.list(directory: $0).last }.map { "; last checkpoint (step \($0)) kept" } ?? ""
    }

    /// `sync: weights`: every `sync_every` steps the weights, the optimizer state (one fused
    /// all-reduce) and the logged terms are averaged.
    mutating func averageWeightsIfDue() throws {
        let done = state.step
        guard config.sync == .weights && (done % config.syncEvery == 0 || done == totalSteps) else { return }
        try communicator.allreduce(state.parameters.flat, op: .average, label: "weight average (sync: weights)")
        try communicator.allreduce(state.optimizer.buffers.keys.sorted().map { state.optimizer.buffers[$0]! }, op: .average, label: "optimizer-state average")
        let keys = lastTerms.keys.sorted()   // the same order on every rank
        lastTerms = try Dictionary(uniqueKeysWithValues: zip(keys, communicator.allreduce(keys.map { lastTerms[$0]! }, op: .average)))
    }

    /// Whether any rank was asked to stop (the signal, else 0): one 8-byte all-reduce a step, so all stop together.
    func agreeOnStop() throws -> Int32 {
        communicator.size > 1 ? Int32(try communicator.allreduce([Double(trainer.stopRequest())], op: .max, label: "stop-request agreement")[0]) : trainer.stopRequest()
    }

    /// Every `consistency_every` steps (where weights should agree): an all-reduced hash of the weights.
    func checkConsistencyIfDue() throws {
        let done = state.step
        guard config.consistencyEvery > 0 && done % config.consistencyEvery == 0 && (config.sync == .gradients || done % config.syncEvery == 0) else { return }
        guard try communicator.allEqual(weightHash(state.parameters.flat)) else {
            throw TrainingError(step: done, message: "weights differ across ranks (hash check); aborting")
        }
    }

    /// Rank 0's progress line and metrics record every `log_every` steps, at the end and on a stop.
    mutating func logIfDue(_ batch: Batch, stopping: Bool) throws {
        windowSteps += 1
        let done = state.step
        guard communicator.rank == 0 && (done % config.logEvery == 0 || done == stopAt || stopping) else { return }
        let seconds = max(1e-9, (clock.now - windowStart).seconds)
        let rate = Double(windowSteps * config.globalBatch) / seconds
        let eta = (clock.now - runStart).seconds / Double(done - firstStep) * Double(totalSteps - done)
        let terms = (ObjectiveTerms.progressOrder + ["grad_norm"]).compactMap { k in lastTerms[k].map { "\(k)=\(String(format: "%.4f", $0))" } }
        trainer.progress(String(format: "epoch %d step %d/%d  %.1f img/s  lr %.4g  ", batch.epoch + 1, done, totalSteps, rate, batch.learningRate)
                         + terms.joined(separator: "  ") + String(format: "  ETA %@", durationText(eta)))
        try metrics.write(["step": done, "epoch": batch.epoch, "lr": batch.learningRate, "images_per_s": rate]
            .merging(lastTerms.mapValues { $0 as Any }) { a, _ in a })
        trainer.onLog(Trainer.LogRecord(step: done, epoch: batch.epoch, learningRate: batch.learningRate, imagesPerSecond: rate, values: lastTerms))
        windowStart = clock.now; windowSteps = 0
    }

    /// Running statistics come from each rank's own batches: averaged after every step (one small
    /// fused all-reduce), so the statistics at any step (a stop request's checkpoint included) are
    /// those an uninterrupted run holds there, and a resume from it is bit-identical. (The running
    /// averages are linear in the batch statistics: averaging each step or only before use differ
    /// by rounding alone.)
    mutating func averageStatistics() throws {
        guard communicator.size > 1 && !state.statistics.isEmpty else { return }
        let names = state.statistics.keys.sorted()   // the same order on every rank
        try communicator.allreduce(names.flatMap { [state.statistics[$0]!.mean, state.statistics[$0]!.variance] }, op: .average,
                                   label: "batch-norm running-statistics all-reduce")
    }

    /// Test accuracy, and saliency robustness under random signs of the training ε when
    /// `train.eval_attribution_samples` asks for it (cheap: no attack loop); logged on rank 0.
    mutating func evaluate(_ batch: Batch) throws {
        let done = state.step
        testAccuracy = try accuracy()
        var record: [String: Any] = ["step": done, "epoch": batch.epoch, "test_accuracy": testAccuracy!]
        var line = String(format: "eval step %d: test accuracy %.2f%%", done, 100 * testAccuracy!)
        if config.evalAttributionSamples > 0 {
            var e = Evaluation()
            e.samples = config.evalAttributionSamples
            e.methods = [.saliency]
            e.attacks = [.randomSign]
            e.k = max(1, config.inputShape[1] * config.inputShape[2] / 10)
            e.figureSamples = 0
            e.perImage = false   // the log needs the means only
            if case let .uniform(eps) = config.perturbation { e.attack.epsilon = eps }
            if case let .pgd(eps, _, _, _) = config.perturbation { e.attack.epsilon = eps }
            if case let .trades(eps, _, _) = config.perturbation { e.attack.epsilon = eps }
            let report = try e.run(config: config, network: network, parameters: state.parameters, statistics: state.statistics,
                                   test: test, communicator: communicator)
            for key in ["topk_intersection", "kendall", "lens_topk_intersection"] {
                if let mean = report.report.mean("saliency", "random_sign", key) {
                    record["saliency_\(key)"] = mean
                    line += String(format: "  saliency %@ %.3f", key, mean)
                }
            }
        }
        if communicator.rank == 0 {
            trainer.progress(line)
            try metrics.write(record)
        }
    }

    /// Rank 0 writes the step's checkpoint, never from weights that diverged (every rank holds the
    /// same ones): not finite, or an l2 norm past `train.max_weight_norm` (a run blowing up while
    /// still finite), end the run here, before a write that would rotate good checkpoints out of `keep`.
    func checkpoint() throws {
        guard let dir = config.checkpointDir else { return }
        let done = state.step
        let norm = l2Norm(state.parameters.flat)
        guard norm.isFinite else {
            throw TrainingError(step: done, message: "the weights are not finite; not checkpointed" + lastCheckpointNote)
        }
        guard config.maxWeightNorm == 0 || norm <= config.maxWeightNorm else {
            throw TrainingError(step: done, message: String(format: "the weights diverged: l2 norm %.3g > train.max_weight_norm %.3g; not checkpointed", norm,
                                                            config.maxWeightNorm) + lastCheckpointNote + " (lower optim.lr, or raise train.max_weight_norm if this norm is expected)")
        }
        if communicator.rank == 0 {
            try Checkpoint(step: done, seed: config.seed, worldSize: communicator.size, configText: config.text,
                           parameters: state.parameters, optimizerBuffers: state.optimizer.buffers,
                           optimizerSteps: state.optimizer.steps, statistics: state.statistics)
                .write(directory: dir, keep: config.checkpointKeep)
        }
        try communicator.barrier(label: "checkpoint barrier (rank 0 writes the file)")
    }

    /// Test accuracy with batch norm in evaluation mode; each rank scores every size-th image.
    func accuracy() throws -> Double {
        let count = config.evalSamples > 0 ? min(config.evalSamples, test.count) : test.count
        let mine = Array(stride(from: communicator.rank, to: count, by: communicator.size))
        let loader = BatchLoader(store: test, normalization: config.normalization)
        var correct = 0.0
        for start in stride(from: 0, to: mine.count, by: 100) {
            let (x, labels) = try loader.batch(Array(mine[start..<min(mine.count, start + 100)]), epoch: 0, dtype: config.dtype)
            var model = Model(network: state.network, parameters: state.parameters.variables(), statistics: state.statistics, mode: .evaluation)
            correct += Double(hits(model.logits(Variable(x)), labels).filter { $0 }.count)
        }
        return try communicator.allreduce([correct], op: .sum, label: "test-accuracy all-reduce")[0] / Double(count)
    }
}

/// Per image, whether the arg-max of its logits [B, classes] is its label (the accuracies of the
/// trainer's test pass and of `eval` are both counted from this).
func hits(_ logits: Variable, _ labels: [Int]) -> [Bool] {
    zip(argmaxRows(logits.value), labels).map { $0 == $1 }
}

/// crc32 of the weights' bytes in both halves, as one 64-bit value: equal on every rank or diverged.
func weightHash(_ flat: Tensor) -> UInt64 {
    let bytes = flat.count * flat.dtype.byteSize, half = bytes / 2
    let a = CRC32.of(UnsafeRawBufferPointer(start: flat.rawPointer, count: half))
    let b = CRC32.of(UnsafeRawBufferPointer(start: flat.rawPointer + half, count: bytes - half))
    return UInt64(a) << 32 | UInt64(b)
}
