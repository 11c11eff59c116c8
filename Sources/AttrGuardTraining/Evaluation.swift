import AttrGuardAttribution
import AttrGuardCore
import AttrGuardData
import AttrGuardDistributed
import AttrGuardNN
import AttrGuardReport
import Foundation

/// `attrguard eval`: accuracy, PGD adversarial accuracy, and how stable each attribution method
/// stays under each attribution attack, as mean and std over the test images. Ranks score
/// every size-th image and the sums are all-reduced, so any rank count gives the same report.
public struct Evaluation {
    public var samples = 500
    public var batch = 50
    public var methods: [AttributionMethod] = [.saliency, .integratedGradients]
    public var attacks: [AttributionAttack] = [.topK, .randomSign]
    public var k = 100
    public var window = 3
    public var attack = AttackSettings()
    public var attribution = AttributionSettings()
    /// PGD for adversarial accuracy: ε, step, iterations.
    public var pgd = Perturbation.pgd(epsilon: 8.0 / 255, stepSize: 2.0 / 255, steps: 10, randomStart: true)
    /// Softplus β replacing ReLU in the attack's gradient.
    public var attackBeta = 10.0
    public var figureSamples = 4
    /// Attribution metrics over the correctly classified test images only, as the papers report
    /// them (a misclassified image's map explains the wrong class). Accuracies count every image.
    public var correctOnly = true
    /// Rank 0's progress lines (images done, rate, ETA) at most every `progressInterval` and at the
    /// end; nil: silent (the training loop's validation).
    public var progress: ((String) -> Void)?
    public var progressInterval: Duration = .seconds(10)

    public init() {}

    public struct Report {
        public var json: [String: Any]
        /// For the figure: images, maps and attacked versions of the first samples (rank 0).
        public var figure: [(image: [Double], map: AttributionMap, attacked: [Double], attackedMap: AttributionMap)]
        public var imageShape: [Int]
    }

    public func run(config: TrainingConfig, checkpoint path: String, communicator: Communicator) throws -> Report {
        let network = try Network(layers: config.layers, inputShape: config.inputShape)
        let ckpt = try Checkpoint.read(path, network: network)
        let test = try Trainer(config: config, communicator: communicator).loadData().test
        var report = try run(config: config, network: network, parameters: ckpt.parameters, statistics: ckpt.statistics,
                             test: test, communicator: communicator)
        report.json["checkpoint"] = path
        report.json["step"] = ckpt.step
        return report
    }

    /// Evaluates weights in hand (the training loop's validation uses this directly).
    public func run(config: TrainingConfig, network: Network, parameters: ParameterSet, statistics: [String: RunningStatistic],
                    test: ImageStore, communicator: Communicator) throws -> Report {
        let count = min(samples, test.count)
        guard k >= 1 && k <= config.inputShape[1] * config.inputShape[2] else {
            throw ConfigError(file: "eval", key: "--k", message: "\(k) must be in 1…\(config.inputShape[1] * config.inputShape[2]) (pixels of a map)")
        }
        let loader = BatchLoader(store: test, normalization: config.normalization)
        let bound = parameters.variables()
        var model = Model(network: network, parameters: bound, statistics: statistics, mode: .evaluation)
        let surrogate = try Network(layers: config.layers.map { $0.smoothed(beta: attackBeta) }, inputShape: config.inputShape)
        var attackModel = Model(network: surrogate, parameters: bound, statistics: statistics, mode: .evaluation)
        var attackSettings = attack
        attackSettings.range = config.pixelRange
        attackSettings.k = k
        var attributionSettings = attribution
        attributionSettings.range = config.pixelRange

        let mine = Array(stride(from: communicator.rank, to: count, by: communicator.size))
        // sums[name] = (Σ value, Σ value², n)
        var sums: [String: [Double]] = [:]
        func add(_ name: String, _ v: Double) {
            guard v.isFinite else { return }
            var s = sums[name] ?? [0, 0, 0]
            s[0] += v; s[1] += v * v; s[2] += 1
            sums[name] = s
        }
        var figure: [(image: [Double], map: AttributionMap, attacked: [Double], attackedMap: AttributionMap)] = []
        let clock = ContinuousClock(), began = clock.now
        var lastReport = began
        for start in stride(from: 0, to: mine.count, by: batch) {
            if communicator.rank == 0, let progress, start > 0, clock.now - lastReport >= progressInterval {
                lastReport = clock.now
                let fraction = Double(start) / Double(mine.count), seconds = (clock.now - began).seconds
                progress(String(format: "eval: %d/%d images, %.2f images/s, ETA %@", Int(fraction * Double(count)), count,
                                fraction * Double(count) / seconds, durationText(seconds / fraction * (1 - fraction))))
            }
            let indices = Array(mine[start..<min(mine.count, start + batch)])
            let (x, labels) = try loader.batch(indices, epoch: 0, dtype: config.dtype)
            let noise = PerturbationNoise(seed: config.seed, keys: indices.map(UInt64.init))
            let predicted = argmaxRows(model.logits(Variable(x)).value)
            for (p, y) in zip(predicted, labels) { add("accuracy", p == y ? 1 : 0) }
            var frozen = model
            let adversarial = try perturb(x, labels: labels, with: pgd, model: &frozen, range: config.pixelRange, noise: noise)!
            for (p, y) in zip(argmaxRows(model.logits(Variable(adversarial)).value), labels) { add("adversarial_accuracy", p == y ? 1 : 0) }
            let kept = correctOnly ? predicted.indices.filter { predicted[$0] == labels[$0] } : Array(predicted.indices)
            guard !kept.isEmpty else { continue }
            add("attributed", Double(kept.count))
            let xs = kept.count == indices.count ? x : rows(x, kept)
            let predictedKept = kept.map { predicted[$0] }
            let noiseKept = PerturbationNoise(seed: noise.seed, keys: kept.map { noise.keys[$0] })
            for a in attacks {
                // Random signs do not depend on the method: one draw serves all. The top-k attack
                // attacks each method's own map.
                let shared = a == .randomSign
                    ? try AttrGuardAttribution.attack(a, &attackModel, x: xs, labels: predictedKept, settings: attackSettings,
                                                      attribution: attributionSettings, noise: noiseKept) : nil
                for method in methods {
                    var settings = attackSettings
                    settings.target = method
                    let attacked = try shared ?? AttrGuardAttribution.attack(a, &attackModel, x: xs, labels: predictedKept, settings: settings,
                                                                             attribution: attributionSettings, noise: noiseKept)
                    func maps(_ t: Tensor) throws -> [AttributionMap] {
                        attributionMaps(pixelMap(try attribute(method, &model, Variable(t, requiresGrad: true), labels: predictedKept,
                                                              settings: attributionSettings, noise: noiseKept, createGraph: false)).value)
                    }
                    let before = try maps(xs), after = try maps(attacked)
                    for (m0, m1) in zip(before, after) {
                        for (name, value) in AttributionComparison(m0, m1, k: k, window: window).named {
                            add("\(method.rawValue)/\(a.rawValue)/\(name)", value)
                        }
                    }
                    if communicator.rank == 0 && method == methods[0] && a == attacks[0] && figure.count < figureSamples {
                        let per = xs.count / kept.count, xv = xs.doubles, av = attacked.doubles
                        for j in 0..<min(kept.count, figureSamples - figure.count) {
                            figure.append((Array(xv[(j * per)..<((j + 1) * per)]), before[j], Array(av[(j * per)..<((j + 1) * per)]), after[j]))
                        }
                    }
                }
            }
        }
        // Rank 0's share stands for everyone's: ranks hold equal slices.
        if communicator.rank == 0, let progress {
            let seconds = max(1e-9, (clock.now - began).seconds)
            progress(String(format: "eval: %d/%d images in %.1f s (%.2f images/s)", count, count, seconds, Double(count) / seconds))
        }
        // The same names on every rank (a rank with no images still reports them as zeros).
        var names = Set(sums.keys)
        for a in attacks { for m in methods { for n in AttributionComparison.names { names.insert("\(m.rawValue)/\(a.rawValue)/\(n)") } } }
        names.formUnion(["accuracy", "adversarial_accuracy", "attributed"])
        let ordered = names.sorted()
        let flat = try communicator.allreduce(ordered.flatMap { sums[$0] ?? [0, 0, 0] }, op: .sum)
        var json: [String: Any] = ["samples": count, "k": k, "window": window, "ranks": communicator.size, "correct_only": correctOnly,
                                   "epsilon": attackSettings.epsilon, "attack_iterations": attackSettings.iterations]
        var methodsJSON: [String: [String: [String: Any]]] = [:]
        for (i, name) in ordered.enumerated() {
            let (s, s2, n) = (flat[3 * i], flat[3 * i + 1], flat[3 * i + 2])
            let mean = n > 0 ? s / n : .nan
            let std = n > 1 ? max(0, (s2 - n * mean * mean) / (n - 1)).squareRoot() : 0
            if name == "accuracy" || name == "adversarial_accuracy" { json[name] = mean; continue }
            if name == "attributed" { json["attribution_images"] = Int(s); continue }
            let parts = name.split(separator: "/").map(String.init)
            methodsJSON[parts[0], default: [:]][parts[1], default: [:]][parts[2]] = ["mean": mean.isNaN ? NSNull() as Any : mean as Any, "std": std, "n": Int(n)]
        }
        json["attributions"] = methodsJSON
        json["method"] = config.objective.name
        for (key, value) in config.objective.weights { json[key] = value }
        return Report(json: json, figure: figure, imageShape: config.inputShape)
    }
}

/// Rows `indices` of a [B, ...] tensor, as a new [indices.count, ...] tensor.
func rows(_ x: Tensor, _ indices: [Int]) -> Tensor {
    let per = x.count / x.shape[0], v = x.doubles
    return Tensor(shape: [indices.count] + x.shape.dropFirst(), values: indices.flatMap { v[($0 * per)..<(($0 + 1) * per)] }, dtype: x.dtype)
}
