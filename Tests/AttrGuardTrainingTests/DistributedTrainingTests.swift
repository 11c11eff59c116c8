import AttrGuardCore
import AttrGuardNN
import AttrGuardTestSupport
import AttrGuardTraining
import Foundation
import Testing

/// A small config without batch norm (batch statistics are per rank, as in PyTorch DDP without
/// SyncBatchNorm, so only BN-free networks can match across rank counts exactly).
func equivalenceConfig(method: String, directory: String, steps: Int) -> String {
    let methodBlock: String
    switch method {
    case "igr":
        methodBlock = "{name: igr, attribution_of: logit, lambda: 1.0, ig_steps: 2, perturbation: {kind: pgd, epsilon: 0.0313725, step_size: 0.0313725, steps: 1, random_start: true}}"
    case "hessian": methodBlock = "{name: hessian, attribution_of: logit, lambda: 0.001}"
    case "trades": methodBlock = "{name: trades, beta: 6.0, perturbation: {kind: trades, epsilon: 0.0313725, step_size: 0.0078431, steps: 2}}"
    case "igr+trades":
        methodBlock = "{name: igr, base: trades, beta: 6.0, attribution_of: logit, lambda: 1.0, ig_steps: 2, perturbation: {kind: trades, epsilon: 0.0313725, step_size: 0.0078431, steps: 2}}"
    case "art": methodBlock = "{name: art, lambda: 0.5, perturbation: {kind: art, epsilon: 0.0313725, step_size: 0.0196078, steps: 2, top_k: 20}}"
    case "ig_norm", "ig_sum_norm":
        methodBlock = "{name: \(method), lambda: 0.1, ig_steps: 3, perturbation: {kind: ig_norm, epsilon: 0.0313725, step_size: 0.0078431, steps: 2, path_steps: 2}}"
    default: methodBlock = "{name: l2cos, lambda_l2: 1.0, lambda_cos: 1.0, perturbation: {kind: uniform, epsilon: 0.0313725}}"
    }
    return """
    seed: 3
    model:
      name: layers
      layers:
        - {type: conv2d, in: 3, out: 8, kernel: 3, stride: 2, padding: 1}
        - {type: softplus, beta: 10}
        - {type: conv2d, in: 8, out: 8, kernel: 3, stride: 2, padding: 1}
        - {type: softplus, beta: 10}
        - {type: global_avgpool}
        - {type: flatten}
        - {type: linear, in: 8, out: 10}
    data: {dataset: synthetic, train_per_class: 40, test_per_class: 5, augmentation: crop_flip}
    method: \(methodBlock)
    optim: {lr: 0.05, momentum: 0.9, weight_decay: 5.0e-4}
    schedule: {kind: cosine, unit: steps, warmup: 3}
    train: {epochs: 100, max_steps: \(steps), global_batch: 16, log_every: 10, consistency_every: 10, bucket_mb: 0.001}
    checkpoint: {dir: \(directory)/checkpoints, every: 20, keep: 5}
    log: {metrics: \(directory)/metrics.jsonl}
    """
}

func finalWeights(_ directory: String, config: String) throws -> [Double] {
    let cfg = try TrainingConfig.load(path: config)
    let network = try Network(layers: cfg.layers, inputShape: cfg.inputShape)
    return try Checkpoint.read(Checkpoint.latest(in: "\(directory)/checkpoints"), network: network).parameters.flat.doubles
}

func relativeDifference(_ a: [Double], _ b: [Double]) -> Double {
    zip(a, b).map { abs($0 - $1) }.max()! / b.map(abs).max()!
}

@Suite(.serialized) struct DistributedTrainingTests {
    /// 50 steps on 1, 2 and 4 ranks (4 oversubscribed on 2 cores) give the same weights.
    @Test(arguments: ["l2cos", "igr"])
    func sameWeightsForAnyRankCount(method: String) throws {
        var weights: [Int: [Double]] = [:]
        for ranks in [1, 2, 4] {
            let dir = try temporaryDirectory()
            let config = "\(dir)/config.yaml"
            try equivalenceConfig(method: method, directory: dir, steps: 50).write(toFile: config, atomically: true, encoding: .utf8)
            let (status, out) = try runMPI(ranks: ranks, ["train", "--config", config])
            #expect(status == 0, "\(ranks) ranks: \(out)")
            #expect(out.contains("train: done after 50 steps"))
            weights[ranks] = try finalWeights(dir, config: config)
        }
        for ranks in [2, 4] {
            let d = relativeDifference(weights[ranks]!, weights[1]!)
            print("\(method): max relative weight difference, \(ranks) ranks vs 1: \(d)")
            #expect(d < 1e-4)
        }
        // And training moved them: the comparison is not between two initialisations.
        let dir = try temporaryDirectory()
        try equivalenceConfig(method: method, directory: dir, steps: 1).write(toFile: "\(dir)/c.yaml", atomically: true, encoding: .utf8)
        _ = try runAttrguard(["train", "--config", "\(dir)/c.yaml"])
        #expect(relativeDifference(try finalWeights(dir, config: "\(dir)/c.yaml"), weights[1]!) > 1e-2)
    }

    /// The papers' baselines keep one model across rank counts too: their per-sample draws
    /// (hessian's probe v, TRADES', IG-NORM's and ART's starts) are keyed by sample, not by rank.
    /// Float64, 1 vs 2 ranks.
    @Test(arguments: ["hessian", "trades", "ig_norm", "ig_sum_norm", "igr+trades", "art"])
    func baselinesTrainTheSameModelOnOneAndTwoRanks(method: String) throws {
        var weights: [Int: [Double]] = [:]
        for ranks in [1, 2] {
            let dir = try temporaryDirectory()
            try equivalenceConfig(method: method, directory: dir, steps: 20).write(toFile: "\(dir)/c.yaml", atomically: true, encoding: .utf8)
            let (status, out) = try runMPI(ranks: ranks, ["train", "--config", "\(dir)/c.yaml", "--set", "train.dtype=float64"])
            #expect(status == 0 && out.contains("train: done after 20 steps"), "\(ranks) ranks: \(out)")
            weights[ranks] = try finalWeights(dir, config: "\(dir)/c.yaml")
        }
        let d = relativeDifference(weights[2]!, weights[1]!)
        print("\(method): max relative weight difference, 2 ranks vs 1 (Float64): \(d)")
        #expect(d < 1e-10)
    }

    /// A ResNet-style layer list (stem conv + batch norm, one residual block with batch norm in the
    /// body and in the projection shortcut) in Float64, 20 steps: with model.sync_batchnorm, 2 and 4
    /// ranks (4 oversubscribed) train the 1-rank model — weights and batch-norm running statistics
    /// (statistics of the global batch in the forward, the PGD/noise attack and every backward of
    /// the double backprop); without it they do not. The log counts the extra all-reduces.
    @Test(arguments: ["l2cos", "igr"])
    func syncBatchNormTrainsTheOneRankModel(method: String) throws {
        func run(ranks: Int, sync: Bool) throws -> (weights: [Double], statistics: [Double], metrics: String) {
            let dir = try temporaryDirectory()
            let config = "\(dir)/config.yaml"
            let layers = [
                "  layers:",
                "    - {type: conv2d, in: 3, out: 8, kernel: 3, stride: 2, padding: 1, bias: false}",
                "    - {type: batchnorm2d, features: 8}",
                "    - {type: softplus, beta: 10}",
                "    - type: residual",
                "      body:",
                "        - {type: conv2d, in: 8, out: 8, kernel: 3, stride: 2, padding: 1, bias: false}",
                "        - {type: batchnorm2d, features: 8}",
                "        - {type: softplus, beta: 10}",
                "        - {type: conv2d, in: 8, out: 8, kernel: 3, stride: 1, padding: 1, bias: false}",
                "        - {type: batchnorm2d, features: 8}",
                "      shortcut:",
                "        - {type: conv2d, in: 8, out: 8, kernel: 1, stride: 2, padding: 0, bias: false}",
                "        - {type: batchnorm2d, features: 8}",
                "      activation: {type: softplus, beta: 10}",
                "    - {type: global_avgpool}",
                "    - {type: flatten}",
                "    - {type: linear, in: 8, out: 10}",
            ].joined(separator: "\n") + "\n"
            var text = equivalenceConfig(method: method, directory: dir, steps: 20)
            let a = text.range(of: "  layers:\n")!, b = text.range(of: "data:")!
            text.replaceSubrange(a.lowerBound..<b.lowerBound, with: layers)
            text = text.replacingOccurrences(of: "name: layers", with: "name: layers\n  sync_batchnorm: \(sync)")
                .replacingOccurrences(of: "log_every: 10", with: "log_every: 4, dtype: float64")
            try #require(text.contains("type: residual") && text.contains("sync_batchnorm"))
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            let (status, out) = try runMPI(ranks: ranks, ["train", "--config", config])
            try #require(status == 0, "\(ranks) ranks: \(out)\n\(text)")
            let cfg = try TrainingConfig.load(path: config)
            let network = try Network(layers: cfg.layers, inputShape: cfg.inputShape)
            let checkpoint = try Checkpoint.read(Checkpoint.latest(in: "\(dir)/checkpoints"), network: network)
            #expect(checkpoint.step == 20 && checkpoint.statistics.count == 4)
            let statistics = checkpoint.statistics.keys.sorted().flatMap { checkpoint.statistics[$0]!.mean.doubles + checkpoint.statistics[$0]!.variance.doubles }
            return (checkpoint.parameters.flat.doubles, statistics, try String(contentsOfFile: "\(dir)/metrics.jsonl", encoding: .utf8))
        }
        let one = try run(ranks: 1, sync: true)
        for ranks in [2, 4] {
            let synced = try run(ranks: ranks, sync: true), local = try run(ranks: ranks, sync: false)
            let d = relativeDifference(synced.weights, one.weights), dLocal = relativeDifference(local.weights, one.weights)
            let s = relativeDifference(synced.statistics, one.statistics), sLocal = relativeDifference(local.statistics, one.statistics)
            print("\(method) ResNet-style batch norm, 20 steps: \(ranks) ranks vs 1, max relative difference of weights \(d), running statistics \(s) "
                  + "synchronized; \(dLocal), \(sLocal) per rank")
            #expect(d < 1e-10 && s < 1e-10)
            #expect(dLocal > 1e-4 && sLocal > 1e-4)
            #expect(synced.metrics.contains("\"sync_bn_allreduces\"") && !local.metrics.contains("sync_bn_allreduces"))
        }
    }

    /// First- and second-order gradient checks of synchronized batch norm against finite differences
    /// of the global-batch function, on 1, 2 and 3 ranks (3 oversubscribed): the same function
    /// value everywhere, errors far below the finite differences' own.
    @Test func syncBatchNormGradientChecksAcrossRanks() throws {
        var values: [Double] = []
        for ranks in [1, 2, 3] {
            let (status, out) = try runMPI(ranks: ranks, ["sync-batchnorm-check", "--batch", "6"])
            #expect(status == 0, "\(ranks) ranks: \(out)")
            let line = out.split(separator: "\n").first { $0.hasPrefix("synchronized batch norm on \(ranks) rank(s)") }
            try #require(line != nil, "\(out)")
            print(line!)
            let errors = line!.components(separatedBy: "first order ")[1].components(separatedBy: ", second order ").map { Double($0)! }
            #expect(errors[0] < 1e-7 && errors[1] < 1e-7, "\(line!)")
            values.append(Double(line!.components(separatedBy: ": L ")[1].components(separatedBy: ",")[0])!)
        }
        #expect(values.allSatisfy { abs($0 - values[0]) < 1e-12 * abs(values[0]) }, "\(values)")   // summation order only
    }

    /// 40 steps straight vs 20, stop, resume, 20 more: bit-for-bit the same weights.
    @Test func resumeContinuesExactly() throws {
        let a = try temporaryDirectory(), b = try temporaryDirectory()
        for d in [a, b] { try equivalenceConfig(method: "l2cos", directory: d, steps: 40).write(toFile: "\(d)/c.yaml", atomically: true, encoding: .utf8) }
        let (s1, o1) = try runMPI(ranks: 2, ["train", "--config", "\(a)/c.yaml"])
        #expect(s1 == 0, "\(o1)")
        let (s2, o2) = try runMPI(ranks: 2, ["train", "--config", "\(b)/c.yaml", "--stop-after", "20"])
        #expect(s2 == 0 && o2.contains("train: done after 20 steps"), "\(o2)")
        let (s3, o3) = try runMPI(ranks: 2, ["train", "--config", "\(b)/c.yaml", "--resume"])
        #expect(s3 == 0 && o3.contains("resumed from") && o3.contains("at step 20"), "\(o3)")
        #expect(try finalWeights(a, config: "\(a)/c.yaml") == finalWeights(b, config: "\(b)/c.yaml"))
        // The metrics log continued rather than restarting.
        let lines = try String(contentsOfFile: "\(b)/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.filter { $0.contains("\"step\":40") && $0.contains("\"total\"") }.count == 1)
        #expect(lines.filter { $0.contains("\"step\":10,") && $0.contains("\"total\"") }.count == 1)
    }

    /// SIGTERM to the launcher mid-run (what SLURM sends at preemption): both ranks finish the
    /// step, a checkpoint of exactly that step is written, the job exits 75 saying where it is;
    /// resuming gives the weights of an uninterrupted run, and the metrics hold each step once.
    @Test func stopSignalCheckpointsTheCurrentStepAndResumesExactly() throws {
        let a = try temporaryDirectory(), b = try temporaryDirectory()
        for d in [a, b] {
            // Checkpoints only at the end (and at the stop), so the stop's own is the one found.
            let text = equivalenceConfig(method: "l2cos", directory: d, steps: 2000).replacingOccurrences(of: "every: 20", with: "every: 100000")
            try text.write(toFile: "\(d)/c.yaml", atomically: true, encoding: .utf8)
        }
        let job = try Child(repositoryRoot.appendingPathComponent("launch/mpirun.sh").path, ["-np", "2", "train", "--config", "\(b)/c.yaml"])
        let deadline = Date().addingTimeInterval(120)
        func logged() -> Int { ((try? String(contentsOfFile: "\(b)/metrics.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").count }
        while logged() < 3 && Date() < deadline { usleep(20_000) }
        kill(job.process.processIdentifier, SIGTERM)
        let status = job.wait(timeout: 60)
        let output = job.text
        #expect(status == 75, "\(output)")
        let match = output.firstMatch(of: /stopped on request after step (\d+): checkpoint (\S+) written/)
        let stoppedAt = try #require(match.map { Int($0.1)! }, "\(output)")
        #expect(stoppedAt > 0 && stoppedAt < 2000)
        #expect(try Checkpoint.list(directory: "\(b)/checkpoints") == [stoppedAt])

        let (resumed, o2) = try runMPI(ranks: 2, ["train", "--config", "\(b)/c.yaml", "--resume"])
        #expect(resumed == 0 && o2.contains("at step \(stoppedAt)"), "\(o2)")
        let (whole, o1) = try runMPI(ranks: 2, ["train", "--config", "\(a)/c.yaml"])
        #expect(whole == 0, "\(o1)")
        #expect(try finalWeights(a, config: "\(a)/c.yaml") == finalWeights(b, config: "\(b)/c.yaml"))
        let steps = try String(contentsOfFile: "\(b)/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .filter { $0.contains("\"total\"") }.compactMap { $0.firstMatch(of: /"step":(\d+)/).map { Int($0.1)! } }
        #expect(Set(steps).count == steps.count, "a step logged twice: \(steps)")
        #expect(steps.contains(stoppedAt) && steps.last == 2000)
    }

    /// SIGKILL one rank mid-run: every process is gone within 10 s, and the last checkpoint loads.
    @Test func killingOneRankEndsTheJob() throws {
        let dir = try temporaryDirectory()
        let config = "\(dir)/c.yaml"
        try equivalenceConfig(method: "l2cos", directory: dir, steps: 100_000).write(toFile: config, atomically: true, encoding: .utf8)
        let job = try Child(repositoryRoot.appendingPathComponent("launch/mpirun.sh").path, ["-np", "2", "train", "--config", config])
        let deadline = Date().addingTimeInterval(120)
        while (try? Checkpoint.list(directory: "\(dir)/checkpoints").count) ?? 0 < 2 && Date() < deadline { usleep(100_000) }
        let ranks = childPIDs(of: job.process.processIdentifier)
        try #require(ranks.count == 2, "ranks: \(ranks), output: \(job.text)")
        kill(ranks[1], SIGKILL)
        let killed = Date()
        let status = job.wait(timeout: 30)
        let elapsed = Date().timeIntervalSince(killed)
        print("killed rank pid \(ranks[1]); mpirun exited with \(status) after \(String(format: "%.1f", elapsed)) s")
        #expect(elapsed < 10)
        #expect(status != 0)
        usleep(200_000)
        #expect(ranks.allSatisfy { !isRunning($0) }, "a rank survived")
        #expect(try finalWeights(dir, config: config).allSatisfy(\.isFinite))
    }

    @Test func badConfigsNameTheKey() throws {
        let dir = try temporaryDirectory()
        let good = equivalenceConfig(method: "l2cos", directory: dir, steps: 2)
        let cases: [(String, String)] = [
            (good.replacingOccurrences(of: "optim: {lr: 0.05,", with: "optim: {lr: 0.05, learning_rate: 1,"), "optim.learning_rate: unknown key"),
            (good.replacingOccurrences(of: "global_batch: 16", with: "global_batch: sixteen"), "train.global_batch: expected an integer"),
            (good.replacingOccurrences(of: "{type: linear, in: 8, out: 10}", with: "{type: linear, in: 9, out: 10}"),
             "model.layers[6]: in: is 9 but the input has 8 features"),
            (good.replacingOccurrences(of: "name: l2cos", with: "name: l2cosine"), "method.name: 'l2cosine' is not one of"),
        ]
        for (i, (text, message)) in cases.enumerated() {
            try text.write(toFile: "\(dir)/bad\(i).yaml", atomically: true, encoding: .utf8)
            let (status, out) = try runAttrguard(["train", "--config", "\(dir)/bad\(i).yaml"])
            #expect(status != 0 && out.contains("bad\(i).yaml: \(message)"), "\(out)")
        }
        let (status, out) = try runAttrguard(["train", "--config", "\(dir)/bad0.yaml", "--set", "optim.learning_rate", "--set", "x=1"])
        #expect(status != 0 && out.contains("--set"), "\(out)")
        // --set overrides a value and can fix a bad one.
        try good.write(toFile: "\(dir)/good.yaml", atomically: true, encoding: .utf8)
        let cfg = try TrainingConfig.load(path: "\(dir)/good.yaml", overrides: ["optim.lr=0.2", "train.max_steps=7"])
        #expect(cfg.schedule.base == 0.2 && cfg.maxSteps == 7)
    }
}

/// Alive and not a zombie (an orphaned rank may wait for a reaper that a container lacks).
func isRunning(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
    return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
}

/// Direct children of `pid` (the ranks mpirun started).
/// The attrguard processes below `pid` (the ranks under launch/mpirun.sh → mpirun).
func childPIDs(of pid: Int32) -> [Int32] {
    let all = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    var parent: [Int32: Int32] = [:], isAttrguard = Set<Int32>()
    for p in all.compactMap(Int32.init) {
        guard let stat = try? String(contentsOfFile: "/proc/\(p)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.count > 2, let pp = Int32(fields[1]) { parent[p] = pp }
        if stat.contains("(attrguard)") { isAttrguard.insert(p) }
    }
    func descends(_ p: Int32) -> Bool {
        var q = parent[p]
        while let r = q, r > 1 { if r == pid { return true }; q = parent[r] }
        return false
    }
    return isAttrguard.filter(descends).sorted()
}

@Suite struct ShippedConfigTests {
    /// Every config in configs/ parses, builds its network, and has the method its name says.
    @Test func everyShippedConfigIsValid() throws {
        let dir = repositoryRoot.appendingPathComponent("configs").path
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files.count >= 9)
        for f in files {
            let cfg = try TrainingConfig.load(path: "\(dir)/\(f)")
            let net = try Network(layers: cfg.layers, inputShape: cfg.inputShape)
            // DATASET-METHOD.yaml, the method's words joined by dashes (cifar10-ig-norm.yaml is ig_norm).
            let method = f.replacingOccurrences(of: ".yaml", with: "").split(separator: "-", maxSplits: 1).last
                .map { $0.replacingOccurrences(of: "-", with: "_") } ?? ""
            // quickstart is l2cos; cifar10-small's method is chosen per run by launch/reproduce.sh.
            let name = cfg.objective.name.replacingOccurrences(of: "+", with: "_")   // igr+trades in cifar10-igr-trades.yaml
            if f != "quickstart.yaml" && f != "cifar10-small.yaml" { #expect(name == method, "\(f)") }
            print("config \(f): \(cfg.objective.name), \(net.parameterCount) parameters, input \(cfg.inputShape)")
        }
    }

    /// The baselines' bad inputs: a regularizer key on another method, `method.base` without its
    /// perturbation block or with the wrong kind, a base under an objective that has no regularizer.
    @Test(arguments: [
        (["method.name=igr", "method.lambda=1", "method.beta=6"], "method.beta: is a hyper-parameter of trades, not of igr"),
        (["method.name=trades", "method.lambda=1"], "method.lambda: is a hyper-parameter of art, gradnorm, hessian, ig_norm, ig_sum_norm, igr, not of trades"),
        (["method.name=igr", "method.lambda=1", "method.base=pgd"], "method.perturbation: missing: method.base pgd trains on adversarial examples"),
        (["method.name=igr", "method.lambda=1", "method.base=trades", "method.perturbation.kind=pgd"],
         "method.perturbation.kind: method.base trades draws its adversarial x′ with kind trades, got pgd"),
        (["method.name=pgd", "method.base=trades", "method.perturbation.kind=trades"], "method.base: trades is the CE part of a regularized objective"),
        (["method.name=l2cos", "method.lambda_l2=1", "method.lambda_cos=1", "method.perturbation.kind=ig_norm"],
         "method.perturbation.kind: ig_norm maximises IG-NORM's own term: it needs method.name ig_norm or ig_sum_norm, not l2cos"),
    ])
    func baselineConfigErrorsNameTheKey(sets: [String], message: String) throws {
        let dir = try temporaryDirectory()
        let text = """
        model: {name: layers, layers: [{type: conv2d, in: 3, out: 4, kernel: 3, stride: 2}, {type: global_avgpool}, {type: flatten}, {type: linear, in: 4, out: 10}]}
        data: {dataset: synthetic, train_per_class: 4, test_per_class: 1}
        method: {name: standard}
        optim: {lr: 0.1}
        """
        try text.write(toFile: "\(dir)/c.yaml", atomically: true, encoding: .utf8)
        #expect { try TrainingConfig.load(path: "\(dir)/c.yaml", overrides: sets) } throws: { "\($0)".contains(message) }
    }

    /// Every run of launch/reproduce.sh's small suite is a valid config (the overrides are read from the script).
    @Test func reproductionRunsAreValidConfigs() throws {
        let script = try String(contentsOf: repositoryRoot.appendingPathComponent("launch/reproduce.sh"), encoding: .utf8)
        let runs = script.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { $0.hasPrefix("\"") && $0.contains("|$base|") }
        #expect(runs.count == 11)
        var methods: Set<String> = []
        for line in runs {
            let parts = line.trimmingCharacters(in: CharacterSet(charactersIn: "\"")).split(separator: "|").map(String.init)
            let overrides = parts[2].split(separator: " ").map(String.init)
            let cfg = try TrainingConfig.load(path: repositoryRoot.appendingPathComponent("configs/cifar10-small.yaml").path, overrides: overrides)
            #expect(parts[0].hasPrefix(cfg.objective.name.replacingOccurrences(of: "+", with: "-10-")) || parts[0].hasPrefix(cfg.objective.name), "\(line)")
            #expect(cfg.trainSubset == 10000 && cfg.epochs == 8 && cfg.globalBatch == 64)
            methods.insert(cfg.objective.name)
        }
        #expect(methods == ["standard", "gradnorm", "pgd", "l2cos", "igr", "hessian", "trades", "igr+trades"])
    }
}
