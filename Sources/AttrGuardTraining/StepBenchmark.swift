import AttrGuardAttribution
import AttrGuardCore
import AttrGuardDistributed
import AttrGuardNN
import Foundation

/// One training step timed the way ../shared/anchors/torch_step_bench.py times PyTorch's:
/// same models (Softplus β=10), methods, random batch and SGD, 2 warm-up steps then `iterations`.
public struct StepBenchmark {
    public enum Method: String, CaseIterable, Sendable { case plain, l2cos, igr }

    public var model = "smallcnn"
    public var method = Method.l2cos
    public var batch = 64
    public var iterations = 4

    public init() {}

    public var objective: Objective {
        switch method {
        case .plain: return .standard
        case .l2cos: return .l2cos(lambdaL2: 1, lambdaCos: 1, cosEps: 1e-8, target: .loss)
        case .igr: return .igr(lambda: 1, steps: 4, cosEps: 1e-8, target: .logit)
        }
    }

    public var perturbation: Perturbation {
        switch method {
        case .plain: return .none
        case .l2cos: return .uniform(epsilon: 8.0 / 255)
        case .igr: return .pgd(epsilon: 8.0 / 255, stepSize: 8.0 / 255, steps: 1, randomStart: false)
        }
    }

    public static func layers(_ model: String) throws -> [LayerSpec] {
        switch model {
        case "smallcnn": return Architectures.smallCNN()
        case "resnet18": return Architectures.resnet18()
        default: throw TrainingError(step: 0, message: "unknown benchmark model '\(model)' (smallcnn, resnet18)")
        }
    }

    /// Returns (milliseconds per step, images per second, peak resident set in MiB).
    public func run() throws -> (stepMilliseconds: Double, imagesPerSecond: Double, peakRSSMiB: Double) {
        let network = try Network(layers: StepBenchmark.layers(model), inputShape: [3, 32, 32])
        var rng = RandomStream(seed: 0)
        var state = TrainingState(network: network, parameters: ParameterSet(network: network, dtype: .float32, rng: &rng),
                                  optimizer: .sgd(SGD(momentum: 0.9)))
        let x = Tensor.uniform([batch, 3, 32, 32], low: 0, high: 1, dtype: .float32, rng: &rng)
        let labels = (0..<batch).map { _ in Int(rng.next() % 10) }
        let single = Communicator.world
        func step() throws {
            _ = try trainStep(&state, objective: objective, perturbation: perturbation, x: x, labels: labels,
                              learningRate: 0.01, range: PixelRange(), noise: PerturbationNoise(seed: 0, count: batch), communicator: single)
        }
        for _ in 0..<2 { try step() }
        let clock = ContinuousClock()
        let elapsed = try clock.measure { for _ in 0..<iterations { try step() } }
        let seconds = (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18) / Double(iterations)
        return (seconds * 1e3, Double(batch) / seconds, peakResidentMiB())
    }
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
