import AttrGuardAttribution
import AttrGuardCore
import AttrGuardData
import AttrGuardDistributed
import AttrGuardNN
import AttrGuardReport
import CZlib
import Foundation

/// `attrguard train`: one model trained by every rank of the communicator.
///
/// Per step each rank loads its slice of the global batch (EpochPlan), runs the objective on the
/// tape, and the parameter gradients are averaged by bucketed all-reduces that start during the
/// backward (GradientBuckets); every rank then takes the same optimizer step, so weights stay
/// identical (checked by an all-reduced hash every `consistency_every` steps). With
/// `model.sync_batchnorm` batch norm also sums its statistics across ranks (CrossRank). A stop
/// request (a signal on any rank) is agreed on after each step: the step is checkpointed and the
/// run ends with `Stopped`. In `sync: weights` mode ranks step on
/// their own gradients and average weights and momentum every `sync_every` steps (local SGD:
/// K× less communication, at the cost of ranks drifting apart between averages).
public struct Trainer {
    public let config: TrainingConfig
    public let communicator: Communicator
    /// Rank 0's progress lines (the CLI prints them).
    public var progress: (String) -> Void = { print($0) }
    /// A signal number when this process has been asked to stop (preemption), else 0; polled
    /// once a step and agreed on by all ranks.
    public var stopRequest: () -> Int32 = { 0 }

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

    public struct Summary {
        public var steps: Int
        public var lastTerms: [String: Double]
        public var testAccuracy: Double?
        public var parameters: ParameterSet
    }

    /// Loads the train and test splits the config names.
    func loadData() throws -> (train: ImageStore, test: ImageStore) {
        var stores: (ImageStore, ImageStore)
        switch config.dataset {
        case .synthetic:
            stores = (SyntheticDataset.store(count: config.syntheticTrainPerClass * 10, seed: config.seed),
                      SyntheticDataset.store(count: config.syntheticTestPerClass * 10, seed: config.seed &+ 0x7E57))
        case .cifar10:
            stores = (try CIFAR10.load(directory: config.dataPath, split: .train), try CIFAR10.load(directory: config.dataPath, split: .test))
        case .packed:
            stores = (try PackedDataset.open(config.dataPath), try PackedDataset.open(config.testPath))
        }
        if config.trainSubset > 0 {
            guard config.trainSubset <= stores.0.count else {
                throw ConfigError(file: config.dataPath, key: "data.train_subset", message: "\(config.trainSubset) is more than the \(stores.0.count) training images")
            }
            stores.0 = try stores.0.subset(Array(0..<config.trainSubset))
        }
        for (name, s) in [("data.path", stores.0), ("data.test_path", stores.1)] where s.imageShape != config.inputShape {
            throw ConfigError(file: config.dataPath, key: name, message: "images are \(s.imageShape), the model expects \(config.inputShape) (data.image_size)")
        }
        return stores
    }

    /// - Parameter stopAfter: end this invocation after that many steps, as an interruption would
    ///   (the schedule still spans the whole run; resume continues it).
    public func run(resume: Bool, stopAfter: Int? = nil) throws -> Summary {
        // Threads per rank: the libraries' pools, and our kernels' split while the run lasts.
        if let threads = config.threads { KernelThreads.configureLibraries(threads) }
        return try KernelThreads.$count.withValue(config.threads ?? KernelThreads.fromEnvironment) {
            try runLoop(resume: resume, stopAfter: stopAfter)
        }
    }

    private func runLoop(resume: Bool, stopAfter: Int?) throws -> Summary {
        let network = try Network(layers: config.layers, inputShape: config.inputShape)
        let (train, test) = try loadData()
        let classes = network.outputShape[0]
        if let bad = train.labels.first(where: { $0 >= classes }) {
            throw ConfigError(file: config.dataPath, key: "model.classes", message: "\(classes) classes, but the data has label \(bad)")
        }
        let plan0 = EpochPlan(count: train.count, globalBatch: config.globalBatch, seed: config.seed, epoch: 0)
        guard plan0.steps > 0 else {
            throw ConfigError(file: "config", key: "train.global_batch", message: "\(config.globalBatch) is larger than the \(train.count) training images")
        }
        guard config.globalBatch % communicator.size == 0 else {
            throw ConfigError(file: "config", key: "train.global_batch", message: "\(config.globalBatch) is not divisible by \(communicator.size) ranks")
        }
        let stepsPerEpoch = plan0.steps
        let totalSteps = min(config.maxSteps ?? Int.max, config.epochs * stepsPerEpoch)
        let schedule = config.resolvedSchedule(stepsPerEpoch: stepsPerEpoch, totalSteps: totalSteps)

        if let dir = config.checkpointDir {
            // A fresh run must not mix its checkpoints (and metrics) with an earlier run's: the "keep
            // newest" rule would delete the new ones and --resume would pick the old model.
            if !resume, let newest = try Checkpoint.list(directory: dir).last {
                throw ConfigError(file: dir, key: "checkpoint.dir", message: "holds an earlier run's checkpoints (newest: step \(newest)); "
                                  + "continue that run with --resume, or give this one another checkpoint.dir (nothing was written)")
            }
            if communicator.rank == 0 { try Checkpoint.prepare(directory: dir) }
        }
        var rng = RandomStream(seed: config.seed, 1)
        var state = TrainingState(network: network, parameters: ParameterSet(network: network, dtype: config.dtype, rng: &rng),
                                  optimizer: config.optimizer)
        if resume {
            guard let dir = config.checkpointDir else { throw ConfigError(file: "config", key: "checkpoint.dir", message: "--resume needs a checkpoint directory") }
            // The newest checkpoint that reads back whole; a damaged newer one (a crash mid-copy, a
            // flipped byte) is named and skipped rather than ending the resume.
            var loaded: (String, Checkpoint)?
            for step in try Checkpoint.list(directory: dir).reversed() where loaded == nil {
                let candidate = Checkpoint.path(directory: dir, step: step)
                do { loaded = (candidate, try Checkpoint.read(candidate, network: network)) } catch {
                    if communicator.rank == 0 { progress("skipping \(error); trying the previous checkpoint") }
                }
            }
            guard let (path, c) = loaded else { throw DataError(file: dir, "holds no readable checkpoint (step-*.ckpt) to resume from") }
            guard c.parameters.dtype == config.dtype else {
                throw DataError(file: path, "holds \(c.parameters.dtype) weights, the config trains in \(config.dtype)")
            }
            guard c.step <= totalSteps else {
                throw ConfigError(file: path, key: "train.max_steps", message: "the checkpoint is at step \(c.step), past this run's "
                                  + "last step \(totalSteps) (train.max_steps, train.epochs); raise them to continue it")
            }
            state.parameters = c.parameters
            state.optimizer.restore(buffers: c.optimizerBuffers, steps: c.optimizerSteps)
            state.statistics = c.statistics
            state.step = c.step
            if communicator.rank == 0 {
                progress("resumed from \(path) at step \(c.step)" + (c.worldSize != communicator.size ? " (written by \(c.worldSize) ranks, now \(communicator.size))" : ""))
            }
        }
        // One model: rank 0's weights everywhere (they are equal already when seeds agree).
        try communicator.broadcast(state.parameters.flat)

        let loader = BatchLoader(store: train, augmentation: config.augmentation, normalization: config.normalization, seed: config.seed)
        // On resume, records past the checkpoint's step were logged by the interrupted run and are logged again.
        var metrics = try MetricsLog(path: communicator.rank == 0 ? config.metricsPath : nil, append: resume,
                                     keepingSteps: resume ? state.step : nil)
        var plan = plan0
        var lastTerms: [String: Double] = [:]
        var testAccuracy: Double?
        let clock = ContinuousClock()
        var windowStart = clock.now, windowSteps = 0
        let runStart = clock.now, firstStep = state.step
        if communicator.rank == 0 {
            progress("train: \(communicator.size) rank(s), \(network.parameterCount) parameters, \(config.objective.name), "
                     + "global batch \(config.globalBatch), \(stepsPerEpoch) steps/epoch, steps \(state.step)..<\(totalSteps)")
        }

        let stopAt = min(totalSteps, stopAfter.map { state.step + $0 } ?? totalSteps)
        while state.step < stopAt {
            let step = state.step, epoch = step / stepsPerEpoch
            if epoch != plan.epoch { plan = EpochPlan(count: train.count, globalBatch: config.globalBatch, seed: config.seed, epoch: epoch) }
            let indices = try plan.localIndices(step: step % stepsPerEpoch, rank: communicator.rank, size: communicator.size)
            let (x, labels) = try loader.batch(indices, epoch: epoch, dtype: config.dtype)
            let noise = PerturbationNoise(seed: config.seed, keys: indices.map { UInt64(step) << 32 | UInt64($0) })
            let lr = schedule.rate(at: step)
            do {
                // Synchronized batch norm: every batch-norm layer of the step (forward, attack, each
                // backward) sums its statistics across ranks; counted for the log.
                let reducer = config.syncBatchNorm ? StatisticsAllreduce(communicator) : nil
                lastTerms = try CrossRank.$reducer.withValue(reducer) {
                    try trainStep(&state, objective: config.objective, perturbation: config.perturbation, x: x, labels: labels,
                                  learningRate: lr, range: config.pixelRange, noise: noise,
                                  communicator: config.sync == .gradients ? communicator : nil, bucketBytes: config.bucketBytes)
                }
                if let reducer {
                    try reducer.check()
                    lastTerms["sync_bn_allreduces"] = Double(reducer.calls)
                    lastTerms["sync_bn_kib"] = Double(reducer.bytes) / 1024
                }
            } catch let e as TrainingError {
                let kept = config.checkpointDir.flatMap { try? Checkpoint.list(directory: $0).last }.map { "; last checkpoint (step \($0)) kept" } ?? ""
                throw TrainingError(step: e.step, message: e.message + kept)
            }
            let done = state.step
            if config.sync == .weights && (done % config.syncEvery == 0 || done == totalSteps) {
                try communicator.allreduce(state.parameters.flat, op: .average)
                for name in state.optimizer.buffers.keys.sorted() { try communicator.allreduce(state.optimizer.buffers[name]!, op: .average) }
                let keys = lastTerms.keys.sorted()   // the same order on every rank
                lastTerms = try Dictionary(uniqueKeysWithValues: zip(keys, communicator.allreduce(keys.map { lastTerms[$0]! }, op: .average)))
            }
            // Whether any rank was asked to stop: one 8-byte all-reduce a step, so all stop together.
            let stopSignal = communicator.size > 1
                ? Int32(try communicator.allreduce([Double(stopRequest())], op: .max)[0]) : stopRequest()
            windowSteps += 1
            if config.consistencyEvery > 0 && done % config.consistencyEvery == 0 && (config.sync == .gradients || done % config.syncEvery == 0) {
                guard try communicator.allEqual(weightHash(state.parameters.flat)) else {
                    throw TrainingError(step: done, message: "weights differ across ranks (hash check); aborting")
                }
            }
            if communicator.rank == 0 && (done % config.logEvery == 0 || done == stopAt || stopSignal != 0) {
                let seconds = max(1e-9, (clock.now - windowStart).seconds)
                let rate = Double(windowSteps * config.globalBatch) / seconds
                let eta = (clock.now - runStart).seconds / Double(done - firstStep) * Double(totalSteps - done)
                let terms = ["total", "ce", "regularizer", "l2_term", "cos_term", "grad_norm"].compactMap { k in lastTerms[k].map { "\(k)=\(String(format: "%.4f", $0))" } }
                progress(String(format: "epoch %d step %d/%d  %.1f img/s  lr %.4g  ", epoch + 1, done, totalSteps, rate, lr)
                         + terms.joined(separator: "  ") + String(format: "  ETA %@", durationText(eta)))
                try metrics.write(["step": done, "epoch": epoch, "lr": lr, "images_per_s": rate].merging(lastTerms.mapValues { $0 as Any }) { a, _ in a })
                windowStart = clock.now; windowSteps = 0
            }
            let evaluate = config.evalEvery > 0 && done % config.evalEvery == 0
            let checkpoint = config.checkpointDir != nil && config.checkpointEvery > 0 && done % config.checkpointEvery == 0
            let last = done == stopAt || stopSignal != 0
            if evaluate || checkpoint || last {
                // Running statistics come from each rank's own batches: average them first.
                for name in state.statistics.keys.sorted() {   // the same order on every rank
                    let s = state.statistics[name]!
                    try communicator.allreduce(s.mean, op: .average)
                    try communicator.allreduce(s.variance, op: .average)
                    state.statistics[name] = s
                }
            }
            if evaluate || (last && stopSignal == 0) {   // a stop request saves its time for the checkpoint
                testAccuracy = try accuracy(state, test)
                var record: [String: Any] = ["step": done, "epoch": epoch, "test_accuracy": testAccuracy!]
                var line = String(format: "eval step %d: test accuracy %.2f%%", done, 100 * testAccuracy!)
                if config.evalAttributionSamples > 0 {
                    // Attribution robustness of saliency maps under random-sign noise of the training ε (cheap: no attack loop).
                    var e = Evaluation()
                    e.samples = config.evalAttributionSamples
                    e.methods = [.saliency]
                    e.attacks = [.randomSign]
                    e.k = max(1, config.inputShape[1] * config.inputShape[2] / 10)
                    e.figureSamples = 0
                    if case let .uniform(eps) = config.perturbation { e.attack.epsilon = eps }
                    if case let .pgd(eps, _, _, _) = config.perturbation { e.attack.epsilon = eps }
                    let report = try e.run(config: config, network: network, parameters: state.parameters, statistics: state.statistics,
                                           test: test, communicator: communicator)
                    let saliency = (report.json["attributions"] as? [String: [String: [String: [String: Any]]]])?["saliency"]?["random_sign"] ?? [:]
                    for key in ["topk_intersection", "kendall", "lens_topk_intersection"] {
                        if let mean = saliency[key]?["mean"] as? Double { record["saliency_\(key)"] = mean; line += String(format: "  saliency %@ %.3f", key, mean) }
                    }
                }
                if communicator.rank == 0 {
                    progress(line)
                    try metrics.write(record)
                }
            }
            if checkpoint || last, let dir = config.checkpointDir {
                // Never replace a good checkpoint with weights that overflowed (every rank holds the same ones).
                guard l2Norm(state.parameters.flat).isFinite else {
                    let kept = (try? Checkpoint.list(directory: dir).last).flatMap { $0 }.map { "; last checkpoint (step \($0)) kept" } ?? ""
                    throw TrainingError(step: done, message: "the weights are not finite; not checkpointed" + kept)
                }
                if communicator.rank == 0 {
                    try Checkpoint(step: done, seed: config.seed, worldSize: communicator.size, configText: config.text,
                                   parameters: state.parameters, optimizerBuffers: state.optimizer.buffers,
                                   optimizerSteps: state.optimizer.steps, statistics: state.statistics)
                        .write(directory: dir, keep: config.checkpointKeep)
                }
                try communicator.barrier()
            }
            if stopSignal != 0 {
                throw Stopped(signal: stopSignal, step: done,
                              checkpoint: config.checkpointDir.map { Checkpoint.path(directory: $0, step: done) })
            }
        }
        return Summary(steps: state.step, lastTerms: lastTerms, testAccuracy: testAccuracy, parameters: state.parameters)
    }

    /// Test accuracy with batch norm in evaluation mode; each rank scores every size-th image.
    func accuracy(_ state: TrainingState, _ test: ImageStore) throws -> Double {
        let count = config.evalSamples > 0 ? min(config.evalSamples, test.count) : test.count
        let mine = Array(stride(from: communicator.rank, to: count, by: communicator.size))
        let loader = BatchLoader(store: test, normalization: config.normalization)
        var correct = 0.0
        for start in stride(from: 0, to: mine.count, by: 100) {
            let (x, labels) = try loader.batch(Array(mine[start..<min(mine.count, start + 100)]), epoch: 0, dtype: config.dtype)
            var model = Model(network: state.network, parameters: state.parameters.variables(), statistics: state.statistics, mode: .evaluation)
            correct += Double(zip(argmaxRows(model.logits(Variable(x)).value), labels).filter { $0 == $1 }.count)
        }
        return try communicator.allreduce([correct], op: .sum)[0] / Double(count)
    }
}

/// crc32 of the weights' bytes in both halves, as one 64-bit value: equal on every rank or diverged.
func weightHash(_ flat: Tensor) -> UInt64 {
    let bytes = flat.count * flat.dtype.byteSize, half = bytes / 2
    let base = flat.rawPointer.assumingMemoryBound(to: UInt8.self)
    let a = crc32(0, base, UInt32(half)), b = crc32(0, base + half, UInt32(bytes - half))
    return UInt64(a) << 32 | UInt64(b)
}

/// JSON lines of metrics, flushed per line (rank 0 only; a nil path writes nothing).
struct MetricsLog {
    private var handle: FileHandle?

    /// - Parameter keepingSteps: when appending, first drop the records whose step is past this one.
    init(path: String?, append: Bool, keepingSteps: Int? = nil) throws {
        guard let path else { return }
        let url = URL(fileURLWithPath: path)
        do { try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true) } catch {
            throw ConfigError(file: path, key: "log.metrics", message: "cannot create its directory "
                              + "\(url.deletingLastPathComponent().path): \((error as NSError).localizedDescription)")
        }
        if append, let last = keepingSteps, let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let kept = text.split(separator: "\n").filter { line in
                let step = (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["step"] as? Int
                return step.map { $0 <= last } ?? true
            }
            if kept.count < text.split(separator: "\n").count {
                try writeAtomically(Data((kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).utf8), to: path)
            }
        }
        if !append || !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw ConfigError(file: path, key: "log.metrics", message: "cannot create the metrics file: \(String(cString: strerror(errno)))")
            }
        }
        handle = try FileHandle(forWritingTo: url)
        try handle?.seekToEnd()
    }

    mutating func write(_ record: [String: Any]) throws {
        guard let handle else { return }
        var line = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
        line.append(0x0A)
        try handle.write(contentsOf: line)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
