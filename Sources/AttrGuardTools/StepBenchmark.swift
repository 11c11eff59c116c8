import AttrGuardAttribution
import AttrGuardCore
import AttrGuardDistributed
import AttrGuardNN
import AttrGuardTraining
import Foundation

/// One training step timed the way ../shared/anchors/torch_step_bench.py times PyTorch's:
/// same models (Softplus β=10), methods, random batch and SGD, 2 warm-up steps then `iterations`.
public struct StepBenchmark {
    /// The objective timed: standard training ("plain", the PyTorch anchors' name), l2cos or igr.
    public enum Method: String, CaseIterable, Sendable { case standard = "plain", l2cos, igr }

    public var model = Model.smallcnn
    public var method = Method.l2cos
    public var batch = 64
    public var iterations = 4

    public init() {}

    /// The method's objective from the factory, every λ 1 (a step costs the same for any λ), igr's
    /// 4 path steps of the true-class logit as the anchors time it.
    public var objective: Objective {
        try! Objective.named(method == .standard ? "standard" : method.rawValue, target: method == .igr ? .logit : .loss) { _, fallback in
            fallback ?? 1
        }!
    }

    public var perturbation: Perturbation {
        switch method {
        case .standard: return .none
        case .l2cos: return .uniform(epsilon: 8.0 / 255)
        case .igr: return .pgd(epsilon: 8.0 / 255, stepSize: 8.0 / 255, steps: 1, randomStart: false)
        }
    }

    /// The benchmark models, as the anchors build them.
    public enum Model: String, CaseIterable, Sendable {
        case smallcnn, resnet18

        public var layers: [LayerSpec] {
            switch self {
            case .smallcnn: return Architectures.smallCNN()
            case .resnet18: return Architectures.resnet18()
            }
        }
    }

    /// Returns (milliseconds per step, images per second, peak resident set in MiB). With a
    /// `profiler`, the timed steps run with it bound (it then holds their ops' accounting).
    public func run(profiler: OpProfiler? = nil) throws -> (stepMilliseconds: Double, imagesPerSecond: Double, peakRSSMiB: Double) {
        try KernelThreads.$count.withValue(KernelThreads.fromEnvironment) { try measure(profiler: profiler) }
    }

    private func measure(profiler: OpProfiler?) throws -> (stepMilliseconds: Double, imagesPerSecond: Double, peakRSSMiB: Double) {
        let network = try Network(layers: model.layers, inputShape: [3, 32, 32])
        var rng = RandomStream(seed: 0)
        var state = TrainingState(network: network, parameters: ParameterSet(network: network, dtype: .float32, rng: &rng),
                                  optimizer: .sgd(SGD(momentum: 0.9)))
        let x = Tensor.uniform([batch, 3, 32, 32], low: 0, high: 1, dtype: .float32, rng: &rng)
        let labels = (0..<batch).map { _ in Int(rng.next() % 10) }
        let sync = GradientSync.across(Communicator.world, parameters: state.parameters, bucketBytes: 25 << 20)
        func step() throws {
            _ = try trainStep(&state, objective: objective, perturbation: perturbation, x: x, labels: labels,
                              learningRate: 0.01, range: PixelRange(), noise: PerturbationNoise(seed: 0, count: batch), sync: sync)
        }
        for _ in 0..<2 { try step() }
        let clock = ContinuousClock()
        let elapsed = try OpProfiler.$current.withValue(profiler) {
            try clock.measure { for _ in 0..<iterations { try step() } }
        }
        let seconds = elapsed.seconds / Double(iterations)
        return (seconds * 1e3, Double(batch) / seconds, peakResidentMiB())
    }
}

/// The profile of `iterations` steps as text tables: per primitive and pass, per layer kind and
/// pass, and what the profiled ops leave of the step (optimizer, tape bookkeeping, unprofiled work).
public func profileTables(_ profiler: OpProfiler, iterations: Int, stepMilliseconds: Double) -> String {
    let n = Double(iterations)
    func row(_ cells: [String]) -> String { "| " + cells.joined(separator: " | ") + " |" }
    func ms(_ e: OpProfiler.Entry) -> String { String(format: "%.1f", e.seconds * 1e3 / n) }
    func share(_ e: OpProfiler.Entry) -> String { String(format: "%.1f%%", e.seconds * 1e3 / n / stepMilliseconds * 100) }
    var lines = ["Per primitive and pass (per step):", "",
                 row(["op", "pass", "ms", "% of step", "calls", "GFLOP/s", "MiB allocated"]), row(Array(repeating: "---", count: 7))]
    for (key, e) in profiler.totals(by: { [$0.op, $0.phase.rawValue] }) {
        let gflops = e.flops > 0 ? String(format: "%.1f", e.flops / e.seconds / 1e9) : ""
        lines.append(row([key[0], key[1], ms(e), share(e), String(e.calls / iterations), gflops,
                          String(format: "%.0f", Double(e.bytes) / n / 1_048_576)]))
    }
    lines += ["", "Per layer kind and pass (per step):", "", row(["layer", "pass", "ms", "% of step", "MiB allocated"]),
              row(Array(repeating: "---", count: 5))]
    for (key, e) in profiler.totals(by: { [$0.layer, $0.phase.rawValue] }) {
        lines.append(row([key[0], key[1], ms(e), share(e), String(format: "%.0f", Double(e.bytes) / n / 1_048_576)]))
    }
    let profiled = profiler.totals(by: { _ in 0 }).first?.entry.seconds ?? 0
    lines += ["", String(format: "step %.1f ms: profiled ops %.1f ms, the rest (optimizer, tape, unprofiled) %.1f ms; %.0f MiB allocated a step, "
                         + "peak %.0f MiB of them alive at once",
                         stepMilliseconds, profiled * 1e3 / n, stepMilliseconds - profiled * 1e3 / n,
                         Double(profiler.allocatedBytes) / n / 1_048_576, Double(profiler.peakLiveBytes) / 1_048_576)]
    return lines.joined(separator: "\n")
}

/// VmHWM of this process (Linux), in MiB; getrusage's ru_maxrss where /proc is not readable.
public func peakResidentMiB() -> Double {
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) { return peakResidentMiB(status: status) }
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// The VmHWM line of a /proc/PID/status text ("VmHWM:\t12810432 kB": a tab, then padding
/// spaces only while the number is short), in MiB; nan without one.
public func peakResidentMiB(status: String) -> Double {
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kb = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap({ Double($0) }) else { return .nan }
    return kb / 1024
}
