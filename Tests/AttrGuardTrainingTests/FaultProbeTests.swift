import AttrGuardAttribution
import AttrGuardCore
import AttrGuardData
import AttrGuardNN
import AttrGuardTestSupport
import AttrGuardTraining
import Foundation
import Testing

/// The fault probe's findings, one test each (numbered as the probe numbered them): outputs that
/// replaced devices and pipes, concurrent writers, logs truncated or left half-written, hangs that
/// swallowed a stop request, checkpoints trusted by name or without their checksum, readers that
/// accepted damaged data, and nonsense config values. Every path used is under a temporary directory.
@Suite(.serialized) struct FaultProbeTests {
    /// A tiny run: 8-channel stride-2 convolutions (one batch norm with `batchNorm`), 20 steps a
    /// second, checkpoints every 10 steps.
    func config(_ dir: String, steps: Int, batchNorm: Bool = false, metrics: String? = nil, checkpoints: String? = nil) -> String {
        let bn = batchNorm ? "\n    - {type: batchnorm2d, features: 8}" : ""
        return """
        seed: 2
        model:
          name: layers
          layers:
            - {type: conv2d, in: 3, out: 8, kernel: 3, stride: 2, padding: 1}\(bn)
            - {type: softplus, beta: 10}
            - {type: global_avgpool}
            - {type: flatten}
            - {type: linear, in: 8, out: 10}
        data: {dataset: synthetic, train_per_class: 8, test_per_class: 2}
        method: {name: standard}
        optim: {lr: 0.05}
        train: {epochs: 100, max_steps: \(steps), global_batch: 8, log_every: 1}
        checkpoint: {dir: \(checkpoints ?? "\(dir)/checkpoints"), every: 10, keep: 5}
        log: {metrics: \(metrics ?? "\(dir)/metrics.jsonl")}
        """
    }

    func write(_ text: String, _ path: String) throws { try text.write(toFile: path, atomically: true, encoding: .utf8) }

    func fileType(_ path: String) -> mode_t {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & S_IFMT : 0
    }

    func trainedRun(steps: Int = 20) throws -> String {
        let dir = try temporaryDirectory()
        try write(config(dir, steps: steps), "\(dir)/c.yaml")
        let (s, o) = try runAttrguard(["train", "--config", "\(dir)/c.yaml"])
        try #require(s == 0, "\(o)")
        return dir
    }

    // 1. log.metrics naming a pipe or a device is refused, never replaced; a symlink is followed.
    @Test func item1MetricsNeverReplaceAPipeOrDeviceAndFollowSymlinks() throws {
        let dir = try temporaryDirectory()
        try #require(mkfifo("\(dir)/fifo", 0o644) == 0)
        var specials = ["\(dir)/fifo"]
        // Our own node of the null device's numbers, inside the temporary directory (root only).
        if getuid() == 0, mknod("\(dir)/null", S_IFCHR | 0o666, dev_t((1 << 8) | 3)) == 0 { specials.append("\(dir)/null") }
        for special in specials {
            let type = fileType(special)
            try write(config(dir, steps: 2, metrics: special, checkpoints: "\(dir)/ck-\(specials.firstIndex(of: special)!)"), "\(dir)/c.yaml")
            let (s, o) = try runAttrguard(["train", "--config", "\(dir)/c.yaml"], timeout: 30)
            #expect(s == 1 && o.contains("\(special): log.metrics: cannot write: ") && o.contains("not a regular file; refusing to replace it"), "\(o)")
            #expect(fileType(special) == type, "\(special) was replaced")
        }
        FileManager.default.createFile(atPath: "\(dir)/real.jsonl", contents: nil)
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/link.jsonl", withDestinationPath: "\(dir)/real.jsonl")
        try write(config(dir, steps: 2, metrics: "\(dir)/link.jsonl", checkpoints: "\(dir)/ck-link"), "\(dir)/c.yaml")
        let (s, o) = try runAttrguard(["train", "--config", "\(dir)/c.yaml"])
        #expect(s == 0, "\(o)")
        #expect(fileType("\(dir)/link.jsonl") == S_IFLNK)
        #expect(try String(contentsOfFile: "\(dir)/real.jsonl", encoding: .utf8).split(separator: "\n").count == 3)   // 2 steps, 1 evaluation
    }

    // 2. A second writer into a checkpoint.dir that a live run holds is refused at once, naming the holder.
    @Test func item2ASecondRunIntoALockedCheckpointDirIsRefused() throws {
        let dir = try temporaryDirectory()
        var holder: RunDirectoryLock? = try RunDirectoryLock(directory: "\(dir)/checkpoints", what: "checkpoint.dir")
        #expect(throws: DataError.self) { _ = try RunDirectoryLock(directory: "\(dir)/checkpoints", what: "checkpoint.dir") }
        try write(config(dir, steps: 20), "\(dir)/c.yaml")
        let (s, o) = try runAttrguard(["train", "--config", "\(dir)/c.yaml"], timeout: 30)
        #expect(s == 1 && o.contains("checkpoint.dir is in use by another run (pid \(getpid()) on host") && !o.contains("epoch 1 step"), "\(o)")
        #expect(try Checkpoint.list(directory: "\(dir)/checkpoints").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/metrics.jsonl"))
        #expect(holder != nil)
        holder = nil
        // Released with its holder (as the kernel releases a dead process's): the run goes ahead.
        let (s2, o2) = try runAttrguard(["train", "--config", "\(dir)/c.yaml"], timeout: 60)
        #expect(s2 == 0, "\(o2)")
    }

    // 3. A fresh run refuses an earlier run's metrics unless told to overwrite them.
    @Test func item3AFreshRunRefusesAnEarlierRunsMetrics() throws {
        let dir = try trainedRun()
        let before = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/metrics.jsonl"))
        let (s, o) = try runAttrguard(["train", "--config", "\(dir)/c.yaml", "--set", "checkpoint.dir=\(dir)/new"])
        #expect(s == 1 && o.contains("metrics.jsonl: log.metrics: holds 21 record(s) of an earlier run") && o.contains("--overwrite-log"), "\(o)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/metrics.jsonl")) == before)
        let (s2, o2) = try runAttrguard(["train", "--config", "\(dir)/c.yaml", "--set", "checkpoint.dir=\(dir)/new", "--set", "train.max_steps=3", "--overwrite-log"])
        #expect(s2 == 0, "\(o2)")
        #expect(try String(contentsOfFile: "\(dir)/metrics.jsonl", encoding: .utf8).split(separator: "\n").count == 4)
    }

    // 4. A partial record (a write cut short by a full disk or a kill) is cut off on resume.
    @Test func item4ResumeCutsAPartialRecord() throws {
        let dir = try trainedRun()
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(dir)/metrics.jsonl"))
        try handle.seekToEnd(); try handle.write(contentsOf: Data("{\"ce\":1.068945".utf8)); try handle.close()
        let (s, o) = try runAttrguard(["train", "--config", "\(dir)/c.yaml", "--resume", "--set", "train.max_steps=25"])
        #expect(s == 0, "\(o)")
        let lines = try String(contentsOfFile: "\(dir)/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let records = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(records.count == lines.count, "\(lines.suffix(3))")
        #expect(records.filter { $0["total"] != nil }.compactMap { $0["step"] as? Int } == Array(1...25))
        let (sp, op) = try runAttrguard(["plot", "\(dir)/metrics.jsonl", "--out", "\(dir)/curves.svg"])
        #expect(sp == 0, "\(op)")
    }

    // 5. eval's figures go through the output layer: a pipe at OUT/sweep-saliency.png stays a pipe.
    @Test func item5EvalFiguresNeverReplaceAPipe() throws {
        let dir = try trainedRun()
        try FileManager.default.createDirectory(atPath: "\(dir)/eval", withIntermediateDirectories: true)
        try #require(mkfifo("\(dir)/eval/sweep-saliency.png", 0o644) == 0)
        let (s, o) = try runAttrguard(["eval", "--checkpoint", "\(dir)/checkpoints", "--out", "\(dir)/eval", "--samples", "4", "--batch", "4",
                                       "--methods", "saliency", "--attacks", "random_sign", "--epsilons", "1,2"], timeout: 120)
        #expect(s != 0 && o.contains("sweep-saliency.png: cannot write: ") && o.contains("refusing to replace it"), "\(o)")
        #expect(fileType("\(dir)/eval/sweep-saliency.png") == S_IFIFO)
        #expect(FileManager.default.fileExists(atPath: "\(dir)/eval/report.json"))
    }

    // 6, 7. A directory or a pipe where the newest checkpoint should be: an error, not a trap or a hang.
    @Test func item6And7ANewestCheckpointThatIsADirectoryOrPipeIsNamed() throws {
        let dir = try trainedRun()
        try FileManager.default.createDirectory(atPath: "\(dir)/checkpoints/step-00000030.ckpt", withIntermediateDirectories: false)
        let (s, o) = try runAttrguard(["export", "--checkpoint", "\(dir)/checkpoints", "--out", "\(dir)/x.safetensors"], timeout: 30)
        #expect(s == 1 && o.contains("step-00000030.ckpt: is a directory, not a checkpoint file"), "\(o)")
        try FileManager.default.removeItem(atPath: "\(dir)/checkpoints/step-00000030.ckpt")
        try #require(mkfifo("\(dir)/checkpoints/step-00000040.ckpt", 0o644) == 0)
        let start = Date()
        let (s2, o2) = try runAttrguard(["eval", "--checkpoint", "\(dir)/checkpoints", "--out", "\(dir)/eval", "--samples", "4"], timeout: 30)
        #expect(s2 == 1 && o2.contains("step-00000040.ckpt: is a device, pipe or socket, not a checkpoint file"), "\(o2)")
        #expect(Date().timeIntervalSince(start) < 20)
    }

    // 8. A pipe as log.metrics on resume is refused (no blocking open); a stop request while the
    // process waits outside the step loop ends it at once.
    @Test func item8NoHangOnAPipeAndAStopRequestOutsideAStepEndsTheProcess() throws {
        let dir = try trainedRun()
        try #require(mkfifo("\(dir)/fifo", 0o644) == 0)
        let start = Date()
        let (s, o) = try runAttrguard(["train", "--config", "\(dir)/c.yaml", "--resume", "--set", "log.metrics=\(dir)/fifo"], timeout: 30)
        #expect(s == 1 && o.contains("fifo: log.metrics: cannot write: ") && Date().timeIntervalSince(start) < 20, "\(o)")
        // The config itself on a pipe nobody writes yet (as `--config <(…)` is read): the process
        // waits in open() before any step, and SIGTERM ends it there.
        let waiting = try Child(attrguardBinary(), ["train", "--config", "\(dir)/fifo"])
        usleep(1_000_000)
        kill(waiting.process.processIdentifier, SIGTERM)
        let signalled = Date()
        let status = waiting.wait(timeout: 10)
        #expect(status == 128 + SIGTERM && Date().timeIntervalSince(signalled) < 5, "status \(status): \(waiting.text)")
    }

    // 9. An alias bomb is refused before anything is built from it.
    @Test func item9AYAMLAliasBombIsRefusedQuickly() throws {
        let dir = try temporaryDirectory()
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 { yaml += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n" }
        yaml += "method: {name: standard}\n"
        try write(yaml, "\(dir)/bomb.yaml")
        let start = Date()
        let (s, o) = try runAttrguard(["train", "--config", "\(dir)/bomb.yaml"], timeout: 60)
        #expect(s == 1 && o.contains("bomb.yaml: -: expands to more than 100000 values"), "\(o)")
        #expect(Date().timeIntervalSince(start) < 10)
        // An ordinary alias still works.
        try write(config(dir, steps: 2).replacingOccurrences(of: "seed: 2", with: "seed: &s 2\nx_note: *s"), "\(dir)/alias.yaml")
        let (s2, o2) = try runAttrguard(["train", "--config", "\(dir)/alias.yaml"], timeout: 60)
        #expect(s2 == 1 && o2.contains("x_note: unknown key"), "\(o2)")
    }

    // 10. Sizes that allocate are bounded before any allocation.
    @Test(arguments: [("data.train_per_class=1000000000", "data.train_per_class: must be at most 100000"),
                      ("data.train_per_class=1e9", "data.train_per_class: expected an integer"),
                      ("data.image_size=100000", "data.image_size: must be at most 1024"),
                      ("data.train_per_class=100000", "data.train_per_class: 100000 + 2 images per class of 10 classes at 512×512")])
    func item10AllocatingSizesAreBounded(override: String, message: String) throws {
        let dir = try temporaryDirectory()
        try write(config(dir, steps: 2), "\(dir)/c.yaml")
        let extra = override.hasPrefix("data.train_per_class=100000") ? ["--set", "data.image_size=512", "--set", "data.augmentation=none"] : []
        let (s, o) = try runAttrguard(["train", "--config", "\(dir)/c.yaml", "--set", override] + extra, timeout: 30)
        #expect(s == 1 && o.contains(message), "\(override): \(o)")
    }

    // 11. A stop at an unscheduled step resumes bit-identically, batch-norm statistics included (2 ranks).
    @Test func item11StopAndResumeIsBitExactWithBatchNormOnTwoRanks() throws {
        let a = try temporaryDirectory(), b = try temporaryDirectory()
        for d in [a, b] { try write(config(d, steps: 20, batchNorm: true).replacingOccurrences(of: "log_every: 1", with: "log_every: 5"), "\(d)/c.yaml") }
        let (s1, o1) = try runMPI(ranks: 2, ["train", "--config", "\(a)/c.yaml"])
        #expect(s1 == 0, "\(o1)")
        let (s2, o2) = try runMPI(ranks: 2, ["train", "--config", "\(b)/c.yaml", "--stop-after", "7"])
        #expect(s2 == 0, "\(o2)")
        let (s3, o3) = try runMPI(ranks: 2, ["train", "--config", "\(b)/c.yaml", "--resume"])
        #expect(s3 == 0 && o3.contains("at step 7"), "\(o3)")
        let cfg = try TrainingConfig.load(path: "\(a)/c.yaml")
        let network = try Network(layers: cfg.layers, inputShape: cfg.inputShape)
        let x = try Checkpoint.read(Checkpoint.path(directory: "\(a)/checkpoints", step: 20), network: network)
        let y = try Checkpoint.read(Checkpoint.path(directory: "\(b)/checkpoints", step: 20), network: network)
        #expect(x.parameters.flat.doubles == y.parameters.flat.doubles)
        #expect(x.statistics.count == 1)
        for (name, stat) in x.statistics {
            #expect(stat.mean.doubles == y.statistics[name]!.mean.doubles && stat.variance.doubles == y.statistics[name]!.variance.doubles, "\(name)")
        }
        // Continued on another rank count without synchronized batch norm: said, not silent.
        let (s4, o4) = try runAttrguard(["train", "--config", "\(b)/c.yaml", "--resume", "--set", "train.max_steps=22"])
        #expect(s4 == 0 && o4.contains("(written by 2 ranks, now 1)") && o4.contains("warning: batch norm normalizes each rank's own 8 images"), "\(o4)")
    }

    // 12. A checkpoint's name must agree with its header: a renamed one is refused, naming both steps.
    @Test func item12ACheckpointsNameAndHeaderStepMustAgree() throws {
        let dir = try trainedRun()
        try FileManager.default.copyItem(atPath: "\(dir)/checkpoints/step-00000010.ckpt", toPath: "\(dir)/checkpoints/step-00000030.ckpt")
        let (s, o) = try runAttrguard(["export", "--checkpoint", "\(dir)/checkpoints", "--out", "\(dir)/x.safetensors"])
        #expect(s == 1 && o.contains("step-00000030.ckpt: the file name says step 30, its header step 10"), "\(o)")
        let (s2, o2) = try runAttrguard(["train", "--config", "\(dir)/c.yaml", "--resume", "--set", "train.max_steps=25"])
        #expect(s2 == 0 && o2.contains("skipping") && o2.contains("says step 30") && o2.contains("at step 20"), "\(o2)")
    }

    // 13. No trailer, no unchecked read, unless asked for.
    @Test func item13ACheckpointWithoutItsChecksumIsRefusedUnlessAllowed() throws {
        let dir = try trainedRun()
        let good = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/checkpoints/step-00000020.ckpt"))
        var damaged = Data(good.prefix(good.count - 16))
        damaged[damaged.count - 40] ^= 0x10
        try damaged.write(to: URL(fileURLWithPath: "\(dir)/old.ckpt"))
        let (s, o) = try runAttrguard(["export", "--checkpoint", "\(dir)/old.ckpt", "--out", "\(dir)/x.safetensors"])
        #expect(s == 1 && o.contains("old.ckpt: no checksum trailer") && o.contains("--allow-unchecked-checkpoint"), "\(o)")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/x.safetensors"))
        let (s2, o2) = try runAttrguard(["export", "--checkpoint", "\(dir)/old.ckpt", "--out", "\(dir)/x.safetensors", "--allow-unchecked-checkpoint"])
        #expect(s2 == 0, "\(o2)")
    }

    // 14. CIFAR-10 files must hold their exact record count.
    @Test func item14CIFARFilesWithMissingOrExtraRecordsAreRefused() throws {
        let dir = try temporaryDirectory()
        try SyntheticDataset.write(directory: dir, trainPerClass: 4, testPerClass: 2)
        _ = try CIFAR10.load(directory: dir, split: .train)
        let file = "\(dir)/data_batch_2.bin"
        let original = try Data(contentsOf: URL(fileURLWithPath: file))
        try (original + original.prefix(CIFAR10.recordSize)).write(to: URL(fileURLWithPath: file))
        #expect(throws: DataError(file: file, "holds 9 records, expected 8 (as record_counts.txt lists)")) { try CIFAR10.load(directory: dir, split: .train) }
        try original.prefix(original.count - CIFAR10.recordSize).write(to: URL(fileURLWithPath: file))
        #expect(throws: DataError(file: file, "holds 7 records, expected 8 (as record_counts.txt lists)")) { try CIFAR10.load(directory: dir, split: .train) }
        // Without the list, the published count.
        try original.write(to: URL(fileURLWithPath: file))
        try FileManager.default.removeItem(atPath: "\(dir)/\(CIFAR10.recordCountsFile)")
        #expect(throws: DataError.self) { try CIFAR10.load(directory: dir, split: .train) }
        let (s, o) = try runAttrguard(["data", "check", "--cifar10", dir])
        #expect(s != 0 && o.contains("data_batch_1.bin: holds 8 records, expected 10000"), "\(o)")
    }

    // 15. Diverged but finite weights end the run before they are checkpointed; good checkpoints stay.
    @Test func item15ADivergedRunKeepsItsGoodCheckpoints() throws {
        let dir = try trainedRun()
        let names = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/checkpoints").filter { $0.hasSuffix(".ckpt") }.sorted()
        let before = try names.map { try Data(contentsOf: URL(fileURLWithPath: "\(dir)/checkpoints/\($0)")) }
        let (s, o) = try runAttrguard(["train", "--config", "\(dir)/c.yaml", "--resume", "--set", "train.max_steps=40", "--set", "checkpoint.keep=2",
                                       "--set", "train.max_weight_norm=0.001"])
        #expect(s == 1 && o.contains("step 30: the weights diverged: l2 norm") && o.contains("> train.max_weight_norm 0.001; not checkpointed")
                && o.contains("last checkpoint (step 20) kept"), "\(o)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/checkpoints").filter { $0.hasSuffix(".ckpt") }.sorted() == names)
        #expect(try names.map { try Data(contentsOf: URL(fileURLWithPath: "\(dir)/checkpoints/\($0)")) } == before)
    }

    // 16. Nonsense values name the key and the allowed range.
    @Test(arguments: [
        ("optim.momentum=3.5", "optim.momentum: must be at most 0.999999"),
        ("data.augmentation=resized_crop_flip|data.min_scale=5", "data.min_scale: must be at most 1"),
        ("data.crop_padding=1000000000", "data.crop_padding: must be at most 32"),
        ("schedule.min_lr=1", "schedule.min_lr: must be at most 0.05"),
        ("schedule.gamma=1e30", "schedule.gamma: must be at most 1"),
        ("schedule.milestones=[-5,3,1]", "schedule.milestones: each must be in 1..."),
        ("schedule.milestones=[5,3]", "schedule.milestones: must increase strictly"),
        ("schedule.warmup=1000000000000", "schedule.warmup: must be at most"),
        ("method.cos_eps=1e30", "method.cos_eps: must be at most 0.01"),
        ("method.perturbation.epsilon=1e30", "method.perturbation.epsilon: must be at most 1"),
        ("model.classes=1000000000", "model.classes: must be at most 100000"),
        ("model.classes=12", "model.classes: is 12, but the layer list ends in 10 outputs"),
        ("model.beta=3", "model.beta: applies to model.name smallcnn and resnet18"),
        (".optim.lr=0.1", "key part 1 of '.optim.lr' is empty"),
        ("optim..lr=0.1", "key part 2 of 'optim..lr' is empty"),
        ("checkpoint.dir=", "checkpoint.dir: is empty"),
    ])
    func item16NonsenseValuesAreRefused(override: String, message: String) throws {
        let dir = try temporaryDirectory()
        var text = config(dir, steps: 2)
        if override.hasPrefix("schedule.") {
            text += override.contains("milestones") ? "\nschedule: {kind: multistep}" : override.contains("gamma") ? "\nschedule: {kind: step, every: 1}" : ""
        }
        try write(text, "\(dir)/c.yaml")
        let sets = override.contains("|") ? override.split(separator: "|").flatMap { ["--set", String($0)] } : ["--set", override]
        let (s, o) = try runAttrguard(["train", "--config", "\(dir)/c.yaml"] + sets, timeout: 30)
        #expect(s == 1 && o.contains(message), "\(override): \(o)")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/metrics.jsonl"))
    }

    /// The fault drill itself (launch/fault-drill.sh), small: kill -9 mid-run, a stop request to a
    /// 2-rank job, full disks when root, two runs into one directory; every trial as expected.
    @Test func faultDrillPasses() throws {
        let drill = try Child(repositoryRoot.appendingPathComponent("launch/fault-drill.sh").path,
                              ["--kills", "2", "--stops", "1", "--pairs", "1", "--seed", "7"])
        let status = drill.wait(timeout: 300)
        #expect(status == 0 && drill.text.contains("trials as expected"), "\(drill.text)")
    }

    // The unclear messages, made clear.
    @Test func aNonFiniteStepIsCountedAsTheProgressLineCountsIt() throws {
        let network = try Network(layers: [.flatten, .linear(in: 12, out: 3, bias: true)], inputShape: [3, 2, 2])
        var rng = RandomStream(seed: 1)
        var state = TrainingState(network: network, parameters: ParameterSet(network: network, dtype: .float64, rng: &rng), optimizer: .sgd(SGD()))
        var values = [Double](repeating: 0.5, count: 24); values[3] = .nan
        let x = Tensor(shape: [2, 3, 2, 2], values: values, dtype: .float64)
        #expect { _ = try trainStep(&state, objective: .standard, perturbation: .none, x: x, labels: [0, 1], learningRate: 0.1,
                                     range: PixelRange(low: 0, high: 1), noise: PerturbationNoise(seed: 0, count: 2), sync: .local) }
            throws: { ($0 as? TrainingError)?.step == 1 && "\($0)".hasPrefix("step 1: ") }
    }

    @Test func messagesNameTheFileOrKeyAndTheReason() throws {
        let dir = try trainedRun()
        // A flipped byte in the header is a checksum mismatch, for the stored config too.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/checkpoints/step-00000020.ckpt"))
        bytes[20] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: "\(dir)/flipped.ckpt"))
        let (s1, o1) = try runAttrguard(["export", "--checkpoint", "\(dir)/flipped.ckpt", "--out", "\(dir)/x.safetensors"])
        #expect(s1 == 1 && o1.contains("flipped.ckpt: checksum mismatch"), "\(o1)")
        // A stray name is no checkpoint: it neither names a file that does not exist nor counts toward keep.
        FileManager.default.createFile(atPath: "\(dir)/checkpoints/step-+0000099.ckpt", contents: Data("x".utf8))
        #expect(try Checkpoint.latest(in: "\(dir)/checkpoints").hasSuffix("step-00000020.ckpt"))
        #expect(Checkpoint.step(ofFileName: "step-+0000099.ckpt") == nil && Checkpoint.step(ofFileName: "step-000000099.ckpt") == nil)
        #expect(Checkpoint.step(ofFileName: "step-00000099.ckpt") == 99)
        // A config that is not UTF-8.
        try Data([0x73, 0x65, 0x65, 0x64, 0x3A, 0x20, 0xFF, 0xFE, 0x0A]).write(to: URL(fileURLWithPath: "\(dir)/latin.yaml"))
        let (s2, o2) = try runAttrguard(["train", "--config", "\(dir)/latin.yaml"])
        #expect(s2 == 1 && o2.contains("latin.yaml: -: is not UTF-8 text (first bad byte near offset 6)"), "\(o2)")
        // -0 is a number.
        let (s3, o3) = try runAttrguard(["train", "--config", "\(dir)/c.yaml", "--set", "optim.name=adamw", "--set", "optim.beta2=-0",
                                         "--set", "checkpoint.dir=\(dir)/other", "--set", "log.metrics=\(dir)/other.jsonl", "--set", "train.max_steps=1"])
        #expect(s3 == 0, "\(o3)")
    }
}
