import AttrGuardNN
import AttrGuardTestSupport
import AttrGuardTraining
import Foundation
import Testing

/// An emulated cluster (launch/netns-cluster.sh) with its own name prefix, state directory and
/// subnet, so a leftover of a killed test never collides with it; `down()` is called from a
/// `defer` by every test that makes one, so it goes even when the test fails.
final class EmulatedCluster {
    let directory: String, prefix: String, subnet: String
    /// mpirun's arguments that reach the nodes (the last line `up` prints).
    let mpirunArguments: String

    init(nodes: Int) throws {
        let tag = String(UInt32.random(in: 0..<0xffff), radix: 16)
        directory = try temporaryDirectory() + "/cluster"
        prefix = "agt\(tag)"
        subnet = "10.214.\(Int.random(in: 10...250))"
        let (status, out) = try script(["up", "\(nodes)"], environment: Self.environment(directory, prefix, subnet))
        guard status == 0, let last = out.split(separator: "\n").last, last.hasPrefix("--hostfile") else {
            _ = try? script(["down"], environment: Self.environment(directory, prefix, subnet))
            throw ClusterError(message: "netns-cluster.sh up \(nodes) failed (\(status)): \(out)")
        }
        mpirunArguments = String(last)
    }

    static func environment(_ directory: String, _ prefix: String, _ subnet: String) -> [String: String] {
        ["NETNS_CLUSTER_DIR": directory, "NETNS_CLUSTER_PREFIX": prefix, "NETNS_CLUSTER_SUBNET": subnet]
    }

    @discardableResult
    func run(_ arguments: [String]) throws -> (Int32, String) {
        try script(arguments, environment: Self.environment(directory, prefix, subnet))
    }

    func down() { _ = try? run(["down"]) }

    /// The attrguard processes on the nodes (Open MPI's daemons detach from mpirun, so the ranks
    /// are found by namespace, not as mpirun's descendants).
    func ranks(nodes: Int) -> [Int32] {
        (1...nodes).flatMap { k -> [Int32] in
            guard let c = try? Child("/usr/sbin/ip", ["netns", "pids", "\(prefix)node\(k)"]) else { return [] }
            c.wait(timeout: 10)
            return c.text.split(separator: "\n").compactMap { Int32($0) }.filter {
                (try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8))?.hasPrefix("attrguard") == true && isRunning($0)
            }
        }
    }

    /// `launch/mpirun.sh` on the nodes, `perNode` ranks each.
    func mpirun(perNode: Int, nodes: Int, _ arguments: [String], environment: [String: String] = [:]) throws -> Child {
        try Child(repositoryRoot.appendingPathComponent("launch/mpirun.sh").path, ["-np", "\(perNode * nodes)"] + arguments,
                  environment: ["MPIRUN_EXTRA": mpirunArguments + " --map-by ppr:\(perNode):node"].merging(environment) { $1 })
    }
}

struct ClusterError: Error, CustomStringConvertible { let message: String; var description: String { message } }

private func script(_ arguments: [String], environment: [String: String]) throws -> (Int32, String) {
    let c = try Child(repositoryRoot.appendingPathComponent("launch/netns-cluster.sh").path, arguments, environment: environment)
    let status = c.wait(timeout: 60)
    return (status, c.text)
}

/// Root with `ip netns` (what the emulated nodes need); checked by making and removing one namespace.
let canMakeNamespaces: Bool = {
    guard getuid() == 0 else { return false }
    let name = "agprobe\(getpid())"
    guard let c = try? Child("/bin/sh", ["-c", "ip netns add \(name) && ip netns del \(name)"]) else { return false }
    return c.wait(timeout: 20) == 0
}()

/// The quickstart config in Float64 with synchronized batch norm, a few steps, into `dir`.
private func quickstartArguments(_ dir: String, steps: Int) -> [String] {
    ["train", "--config", repositoryRoot.appendingPathComponent("configs/quickstart.yaml").path,
     "--set", "train.dtype=float64", "--set", "model.sync_batchnorm=true", "--set", "train.max_steps=\(steps)",
     "--set", "train.eval_attribution_samples=0", "--set", "train.log_every=2", "--set", "checkpoint.dir=\(dir)/checkpoints",
     "--set", "log.metrics=\(dir)/metrics.jsonl"]
}

private func quickstartState(_ dir: String) throws -> (weights: [Double], statistics: [Double]) {
    let cfg = try TrainingConfig.load(path: repositoryRoot.appendingPathComponent("configs/quickstart.yaml").path)
    let network = try Network(layers: cfg.layers, inputShape: cfg.inputShape)
    let c = try Checkpoint.read(Checkpoint.latest(in: "\(dir)/checkpoints"), network: network)
    let statistics = c.statistics.keys.sorted().flatMap { c.statistics[$0]!.mean.doubles + c.statistics[$0]!.variance.doubles }
    return (c.parameters.flat.doubles, statistics)
}

/// Kills what a failed test may leave behind (stopped ranks included).
private func killAll(_ pids: [Int32]) { for p in pids { kill(p, SIGCONT); kill(p, SIGKILL) } }

/// Waits until no attrguard process is left below `launcher`; the seconds it took, or nil at the deadline.
private func waitForRanksToEnd(below launcher: Int32, from start: Date, limit: Double) -> Double? {
    while Date().timeIntervalSince(start) < limit {
        if childPIDs(of: launcher).filter(isRunning).isEmpty { return Date().timeIntervalSince(start) }
        usleep(50_000)
    }
    return nil
}

/// Several nodes in network namespaces on one bridge, Open MPI over TCP between them.
@Suite(.serialized, .enabled(if: canMakeNamespaces, "needs root and ip netns"))
struct EmulatedClusterTests {
    /// 2 nodes × 1 rank and 2 nodes × 2 ranks train the quickstart (Float64, synchronized batch
    /// norm) to the weights and running statistics of 1 rank; the ranks ran on the nodes.
    @Test func multiNodeTrainingMatchesOneRank() throws {
        let cluster = try EmulatedCluster(nodes: 2)
        defer { cluster.down() }
        let names = try cluster.mpirun(perNode: 2, nodes: 2, [], environment: ["ATTRGUARD_BIN": "/bin/hostname"])
        #expect(names.wait(timeout: 60) == 0, "\(names.text)")
        let hosts = names.text.split(separator: "\n").map(String.init).filter { $0.hasPrefix(cluster.prefix) }.sorted()
        #expect(hosts == ["\(cluster.prefix)node1", "\(cluster.prefix)node1", "\(cluster.prefix)node2", "\(cluster.prefix)node2"], "\(names.text)")

        let one = try temporaryDirectory()
        let (status, out) = try runMPI(ranks: 1, quickstartArguments(one, steps: 6))
        try #require(status == 0, "\(out)")
        let reference = try quickstartState(one)
        for perNode in [1, 2] {
            let dir = try temporaryDirectory()
            let job = try cluster.mpirun(perNode: perNode, nodes: 2, quickstartArguments(dir, steps: 6))
            let s = job.wait(timeout: 300)
            try #require(s == 0 && job.text.contains("train: 2 rank(s)") == (perNode == 1), "\(job.text)")
            let state = try quickstartState(dir)
            let dw = relativeDifference(state.weights, reference.weights), ds = relativeDifference(state.statistics, reference.statistics)
            print("2 nodes × \(perNode) rank(s) vs 1 rank, quickstart Float64 sync BN, 6 steps: weights \(dw), running statistics \(ds)")
            #expect(dw <= 1e-10 && ds <= 1e-10)
        }
    }

    /// `bench allreduce` over the emulated link: an α–β fit with a latency and a bandwidth.
    @Test func allreduceFitOverTheEmulatedLink() throws {
        let cluster = try EmulatedCluster(nodes: 2)
        defer { cluster.down() }
        let file = try temporaryDirectory() + "/allreduce.json"
        let job = try cluster.mpirun(perNode: 1, nodes: 2, ["bench", "allreduce", "--repeats", "5", "--max-mib", "4", "--out", file])
        #expect(job.wait(timeout: 120) == 0, "\(job.text)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as! [String: Any]
        let fit = try #require(json["fit"] as? [String: Any])
        print("emulated link, 2 nodes × 1 rank: \(fit)")
        #expect((fit["alpha_us"] as? Double ?? 0) > 0 && (fit["ranks"] as? Int) == 2, "\(fit)")
    }

    /// Node 2's link pulled mid-run: each side's ranks time out, name the other side as not
    /// arrived and end within the time-out + 10 s; the newest checkpoint is a whole, readable one.
    @Test func linkDownEndsEveryRank() throws {
        let cluster = try EmulatedCluster(nodes: 2)
        defer { cluster.down() }
        let dir = try temporaryDirectory()
        let config = "\(dir)/c.yaml"
        try equivalenceConfig(method: "l2cos", directory: dir, steps: 1_000_000).write(toFile: config, atomically: true, encoding: .utf8)
        let job = try cluster.mpirun(perNode: 1, nodes: 2, ["train", "--config", config, "--set", "train.collective_timeout_s=4", "--set", "train.epochs=100000"])
        defer { killAll(cluster.ranks(nodes: 2)) }
        let deadline = Date().addingTimeInterval(120)
        while (try? Checkpoint.list(directory: "\(dir)/checkpoints").count) ?? 0 < 2 && Date() < deadline { usleep(50_000) }
        try #require(cluster.ranks(nodes: 2).count == 2, "\(job.text)")
        try cluster.run(["link", "2", "down"])
        let cut = Date()
        var ended: Double?
        while ended == nil && Date().timeIntervalSince(cut) < 4 + 10 {
            if cluster.ranks(nodes: 2).isEmpty { ended = Date().timeIntervalSince(cut) } else { usleep(100_000) }
        }
        print("link down: every rank ended after \(ended.map { String(format: "%.1f s", $0) } ?? "more than 14 s")")
        #expect(ended != nil)
        // Node 2's words reach mpirun once the link is back (its daemon's output is queued in TCP).
        try cluster.run(["link", "2", "up"])
        let status = job.wait(timeout: 60)
        let text = job.text
        #expect(status != 0)
        #expect(text.contains("rank 0 of 2: step") && text.contains("ranks waiting in it: 0; ranks that did not arrive: 1"), "\(text)")
        #expect(text.contains("rank 1 of 2: step") && text.contains("ranks waiting in it: 1; ranks that did not arrive: 0"), "\(text)")
        let kept = try Checkpoint.list(directory: "\(dir)/checkpoints")
        let cfg = try TrainingConfig.load(path: config)
        #expect(throws: Never.self) { try Checkpoint.read(Checkpoint.path(directory: "\(dir)/checkpoints", step: kept.last!), network: Network(layers: cfg.layers, inputShape: cfg.inputShape)) }
    }
}

/// Collective time-outs and automatic restarts on one host (no namespaces needed).
@Suite(.serialized) struct FailureRecoveryTests {
    /// A rank stopped with SIGSTOP: the other names it, every rank is gone within the time-out
    /// + 10 s, the job's status is the time-out's (124), and no checkpoint of an unfinished step
    /// was written.
    @Test func stoppedRankIsNamedAndTheJobEnds() throws {
        let dir = try temporaryDirectory()
        let config = "\(dir)/c.yaml"
        try equivalenceConfig(method: "l2cos", directory: dir, steps: 1_000_000).write(toFile: config, atomically: true, encoding: .utf8)
        let job = try Child(repositoryRoot.appendingPathComponent("launch/mpirun.sh").path,
                            ["-np", "2", "train", "--config", config, "--set", "train.collective_timeout_s=3", "--set", "train.epochs=100000"])
        let launcher = job.process.processIdentifier
        defer { killAll(childPIDs(of: launcher)) }
        let deadline = Date().addingTimeInterval(120)
        while (try? Checkpoint.list(directory: "\(dir)/checkpoints").count) ?? 0 < 2 && Date() < deadline { usleep(50_000) }
        let ranks = childPIDs(of: launcher)
        try #require(ranks.count == 2, "\(job.text)")
        kill(ranks[1], SIGSTOP)
        let stopped = Date()
        let before = try Checkpoint.list(directory: "\(dir)/checkpoints")
        let ended = waitForRanksToEnd(below: launcher, from: stopped, limit: 3 + 10)
        let status = job.wait(timeout: 30)
        print("SIGSTOP rank 1: every rank ended after \(ended.map { String(format: "%.1f s", $0) } ?? "more than 13 s"), status \(status)")
        #expect(ended != nil)
        #expect(status == 124, "\(job.text)")
        let message = job.text.split(separator: "\n").first { $0.contains("rank 0 of 2: step") }
        #expect(message?.contains("did not complete within 3 s") == true && message?.contains("ranks that did not arrive: 1") == true, "\(job.text)")
        // The unfinished step left nothing: at most the checkpoint rank 0 had finished before it waited.
        let after = try Checkpoint.list(directory: "\(dir)/checkpoints")
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/checkpoints")
        #expect(after.count - before.count <= 1 && !files.contains { $0.hasSuffix(".tmp") }, "\(files)")
    }

    /// `launch/mpirun.sh --max-restarts`: a rank killed after the first checkpoints; the job is
    /// restarted from the newest one and ends with the weights of an uninterrupted run — bit for bit
    /// on the same 2 ranks, to round-off (Float64) when the restart runs on 1 rank (--restart-np 1).
    @Test(arguments: [2, 1])
    func restartAfterKillReachesTheUninterruptedWeights(restartRanks: Int) throws {
        let whole = try temporaryDirectory(), broken = try temporaryDirectory()
        for d in [whole, broken] {
            // 40 steps of 128 images: short enough that 1 and 2 ranks still agree to round-off (over
            // hundreds of steps training amplifies the summation-order difference chaotically).
            try equivalenceConfig(method: "l2cos", directory: d, steps: 40).replacingOccurrences(of: "every: 20", with: "every: 10")
                .replacingOccurrences(of: "global_batch: 16", with: "global_batch: 128")
                .write(toFile: "\(d)/c.yaml", atomically: true, encoding: .utf8)
        }
        let float64 = ["--set", "train.dtype=float64"]
        let (s0, o0) = try runMPI(ranks: 2, ["train", "--config", "\(whole)/c.yaml"] + float64)
        try #require(s0 == 0, "\(o0)")
        let job = try Child(repositoryRoot.appendingPathComponent("launch/mpirun.sh").path,
                            ["--max-restarts", "2", "--restart-np", "\(restartRanks)", "-np", "2", "train", "--config", "\(broken)/c.yaml"] + float64)
        let launcher = job.process.processIdentifier
        defer { killAll(childPIDs(of: launcher)) }
        let deadline = Date().addingTimeInterval(120)
        while (try? Checkpoint.list(directory: "\(broken)/checkpoints").count) ?? 0 < 1 && Date() < deadline { usleep(10_000) }
        let ranks = childPIDs(of: launcher)
        try #require(ranks.count == 2, "\(job.text)")
        kill(ranks[1], SIGSTOP)   // no further step anywhere (rank 0 waits for it), then the kill
        kill(ranks[1], SIGKILL)
        let status = job.wait(timeout: 300)
        let text = job.text
        #expect(status == 0, "\(text)")
        #expect(text.contains("restart 1 of 2 on \(restartRanks) rank(s)") && text.contains("resumed from") && text.contains("finished with status 0 after 1 restart(s)"), "\(text)")
        let a = try finalWeights(whole, config: "\(whole)/c.yaml"), b = try finalWeights(broken, config: "\(broken)/c.yaml")
        let d = relativeDifference(b, a)
        print("restart on \(restartRanks) rank(s) after a kill: max relative weight difference to the uninterrupted 2-rank run \(d)")
        if restartRanks == 2 { #expect(a == b) } else { #expect(d <= 1e-10) }
        // The metrics log holds each step once across the attempts.
        let steps = try String(contentsOfFile: "\(broken)/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .filter { $0.contains("\"total\"") }.compactMap { $0.firstMatch(of: /"step":(\d+)/).map { Int($0.1)! } }
        #expect(Set(steps).count == steps.count && steps.last == 40, "\(steps)")
    }

    /// What is not worth a restart ends the script at once: a config error (status 1) and a stop
    /// request (75) are passed through, not retried.
    @Test func restartsOnlyWhatARestartCanMend() throws {
        let dir = try temporaryDirectory()
        try equivalenceConfig(method: "l2cos", directory: dir, steps: 5).replacingOccurrences(of: "global_batch: 16", with: "global_batch: 0")
            .write(toFile: "\(dir)/c.yaml", atomically: true, encoding: .utf8)
        let job = try Child(repositoryRoot.appendingPathComponent("launch/mpirun.sh").path, ["--max-restarts", "3", "-np", "2", "train", "--config", "\(dir)/c.yaml"])
        #expect(job.wait(timeout: 60) == 1 && !job.text.contains("restart 1"), "\(job.text)")
        let bad = try Child(repositoryRoot.appendingPathComponent("launch/mpirun.sh").path, ["--max-restarts", "x", "train"])
        #expect(bad.wait(timeout: 10) == 2 && bad.text.contains("whole numbers"), "\(bad.text)")
    }
}
