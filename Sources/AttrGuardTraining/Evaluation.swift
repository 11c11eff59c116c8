import AttrGuardAttribution
import AttrGuardCore
import AttrGuardData
import AttrGuardDistributed
import AttrGuardNN
import AttrGuardReport
import Foundation

/// `attrguard eval`: accuracy, PGD adversarial accuracy, and how stable each attribution method
/// stays under each attribution attack, as mean, std and n over the test images, at one attack
/// radius or over a sweep of radii. Ranks score every size-th image and the sums are
/// all-reduced, so any rank count gives the same report.
public struct Evaluation {
    /// Test images evaluated (the first ones of the split) and images per batch.
    public var samples = 500
    public var batch = 50
    /// The attribution methods scored, and the attacks each of them is attacked with.
    public var methods: [AttributionMethod] = [.saliency, .integratedGradients]
    public var attacks: [AttributionAttack] = [.topK, .randomSign]
    /// k of the top-k metrics and of the top-k attack (fewer than a map's pixels).
    public var k = 100
    /// Window (odd, full width) of `lens_topk_intersection` and of the max-pooled rank correlations.
    public var window = 3
    /// Half-widths w of the LENS family (`lens_recall_w1` …).
    public var halfWidths = AttributionComparison.defaultHalfWidths
    /// The attacks' settings (ε is the report's top-level radius) and the methods' (IG steps, SmoothGrad samples).
    public var attack = AttackSettings()
    public var attribution = AttributionSettings()
    /// Attack radii (pixel units) of a sweep; empty: `attack.epsilon` alone. The report's top-level
    /// `attributions` are at `attack.epsilon` when the sweep holds it, else at the sweep's largest radius.
    public var epsilons: [Double] = []
    /// Read a checkpoint without the checksum trailer, unverified (`--allow-unchecked-checkpoint`).
    public var allowUncheckedCheckpoint = false
    /// Sampling-based metrics (max/avg sensitivity, local Lipschitz, RIS, ROS) per method; none by
    /// default (configs/README.md, "Sampling metrics").
    public var sampling = SamplingSettings()
    /// Per image (at the report's radius): the cosine and Kendall τ of (clean, attacked) maps for
    /// every method × attack, and the activation agreement per layer (IGR's analyses).
    public var perImage = true
    /// PGD for adversarial accuracy: ε, step, iterations.
    public var pgd = Perturbation.pgd(epsilon: 8.0 / 255, stepSize: 2.0 / 255, steps: 10, randomStart: true)
    /// Softplus β replacing ReLU in the attack's gradient.
    public var attackBeta = 10.0
    public var figureSamples = 4
    /// Attribution metrics over the correctly classified test images only, as the papers report
    /// them (a misclassified image's map explains the wrong class). Accuracies count every image.
    public var correctOnly = true
    /// The preset the settings came from (recorded in the report), if any.
    public var protocolName: String?
    /// Rank 0's progress lines (images done, rate, ETA) at most every `progressInterval` and at the
    /// end; nil: silent (the training loop's validation).
    public var progress: ((String) -> Void)?
    public var progressInterval: Duration = .seconds(10)

    public init() {}

    /// What `run` returns: the report (encoded as report.json at the edge) and the figure's rows.
    public struct Report {
        /// Settings, accuracies, and per radius × method × attack × metric {mean, std, n}.
        public var report: EvaluationReport
        /// For the figure: images, maps and attacked versions of the first samples (rank 0), for
        /// the first method under the first attack at the report's radius.
        public var figure: [AttributionFigure.Row]
        public var figureCaption: AttributionFigure.Caption?
        public var imageShape: [Int]
    }

    /// The radii evaluated, and the index of the one the top-level report holds.
    public var radii: (values: [Double], main: Int) {
        let values = epsilons.isEmpty ? [attack.epsilon] : epsilons
        return (values, values.firstIndex(of: attack.epsilon) ?? values.indices.max { values[$0] < values[$1] }!)
    }

    /// Evaluates the checkpoint at `path` with `config` (its stored one, usually) on the test split.
    public func run(config: TrainingConfig, checkpoint path: String, communicator: Communicator) throws -> Report {
        if let threads = config.threads { KernelThreads.configureLibraries(threads) }
        return try KernelThreads.$count.withValue(config.threads ?? KernelThreads.fromEnvironment) {
            try evaluate(config: config, checkpoint: path, communicator: communicator)
        }
    }

    private func evaluate(config: TrainingConfig, checkpoint path: String, communicator: Communicator) throws -> Report {
        let network = try Network(layers: config.layers, inputShape: config.inputShape)
        let ckpt = try Checkpoint.read(path, network: network, allowUnchecked: allowUncheckedCheckpoint)
        let test = try loadDatasets(config).test
        var report = try run(config: config, network: network, parameters: ckpt.parameters, statistics: ckpt.statistics,
                             test: test, communicator: communicator)
        report.report.checkpoint = path
        report.report.step = ckpt.step
        return report
    }

    /// Evaluates weights in hand (the training loop's validation uses this directly).
    public func run(config: TrainingConfig, network: Network, parameters: ParameterSet, statistics: [String: RunningStatistic],
                    test: ImageStore, communicator: Communicator) throws -> Report {
        let count = min(samples, test.count), pixels = config.inputShape[1] * config.inputShape[2]
        guard k >= 1 && k < pixels else {
            throw EvaluationError(option: "--k", "\(k) must be in 1…\(pixels - 1) (fewer than the \(pixels) pixels of a map)")
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
        let (radii, main) = self.radii

        let mine = Array(stride(from: communicator.rank, to: count, by: communicator.size))
        var sums = EvaluationAccumulator()
        func add(_ key: EvaluationAccumulator.Key, _ v: Double) { sums.add(key, v) }
        // Per image at the main radius, by method and attack: test-set index, cosine, Kendall τ.
        var perImageScores: [AttributionMethod: [AttributionAttack: [(index: Int, cosine: Double, kendall: Double)]]] = [:]
        var figure: [AttributionFigure.Row] = []
        let clock = ContinuousClock(), began = clock.now
        var lastReport = began
        for start in stride(from: 0, to: mine.count, by: batch) {
            if communicator.rank == 0, let progress, start > 0, clock.now - lastReport >= progressInterval {
                lastReport = clock.now
                let fraction = Double(start) / Double(mine.count), elapsed = (clock.now - began).seconds
                progress(String(format: "eval: %d/%d images, %.2f images/s, ETA %@", Int(fraction * Double(count)), count,
                                fraction * Double(count) / elapsed, durationText(elapsed / fraction * (1 - fraction))))
            }
            let indices = Array(mine[start..<min(mine.count, start + batch)])
            let (x, labels) = try loader.batch(indices, epoch: 0, dtype: config.dtype)
            let noise = PerturbationNoise(seed: config.seed, keys: indices.map(UInt64.init))
            let logits = model.logits(Variable(x)), predicted = argmaxRows(logits.value)
            for hit in hits(logits, labels) { add(.accuracy, hit ? 1 : 0) }
            var frozen = model
            // pgd = .none: no adversarial accuracy (the report's value is then null).
            if let adversarial = try perturb(x, labels: labels, with: pgd, model: &frozen, range: config.pixelRange, noise: noise) {
                for hit in hits(model.logits(Variable(adversarial)), labels) { add(.adversarialAccuracy, hit ? 1 : 0) }
            }
            let kept = correctOnly ? predicted.indices.filter { predicted[$0] == labels[$0] } : Array(predicted.indices)
            guard !kept.isEmpty else { continue }
            add(.attributed, Double(kept.count))
            let xs = kept.count == indices.count ? x : rows(x, kept)
            let predictedKept = kept.map { predicted[$0] }
            let noiseKept = PerturbationNoise(seed: noise.seed, keys: kept.map { noise.keys[$0] })
            func raw(_ method: AttributionMethod, _ t: Tensor) throws -> Tensor {
                try attribute(method, &model, Variable(t, requiresGrad: true), labels: predictedKept,
                              settings: attributionSettings, noise: noiseKept, createGraph: false).value
            }
            func maps(_ attributions: Tensor) -> [AttributionMap] { attributionMaps(pixelMap(Variable(attributions)).value) }
            var before: [AttributionMethod: [AttributionMap]] = [:], clean: [AttributionMethod: Tensor] = [:]
            for method in methods {
                clean[method] = try raw(method, xs)
                before[method] = maps(clean[method]!)
            }
            if !sampling.metrics.isEmpty {
                try addSamplingScores(xs: xs, clean: clean, logits: rows(logits.value, kept), predicted: predictedKept,
                                      noise: noiseKept, range: config.pixelRange, logitsAt: { model.logits(Variable($0)).value },
                                      raw: raw, add: add)
            }
            let keptIndices = kept.map { indices[$0] }
            func activations(_ t: Tensor) -> [(layer: String, values: Tensor)] {
                model.network.preActivations(t, model.parameters, statistics: model.statistics)
            }
            let cleanActivations = perImage ? activations(xs) : []
            for (r, epsilon) in radii.enumerated() {
                attackSettings.epsilon = epsilon
                for a in attacks {
                    // Random signs and random perturbations do not depend on the method: one draw serves all.
                    let sharedStart = clock.now
                    let shared = a == .randomSign || a == .randomPerturbation
                        ? try perturbations(a, &attackModel, x: xs, labels: predictedKept, settings: attackSettings,
                                            attribution: attributionSettings, noise: noiseKept) : nil
                    let sharedSeconds = (clock.now - sharedStart).seconds / Double(methods.count)
                    // Activation states of the attacked images, once per draw where all methods share them.
                    let analysed = perImage && r == main
                    let sharedStates = analysed ? shared.map { $0.map(activations) } : nil
                    for method in methods {
                        let methodStart = clock.now
                        var settings = attackSettings
                        settings.target = method
                        let attacked = try shared ?? perturbations(a, &attackModel, x: xs, labels: predictedKept, settings: settings,
                                                                   attribution: attributionSettings, noise: noiseKept)
                        let afters = try attacked.map { maps(try raw(method, $0)) }
                        let scored = averagedMetrics(before[method]!, afters)
                        for (j, image) in scored.enumerated() {
                            for (name, value) in image {
                                add(.attribution(radius: r, method: method.rawValue, attack: a.rawValue, metric: name), value)
                            }
                            if analysed {
                                let named = Dictionary(image, uniquingKeysWith: { a, _ in a })
                                perImageScores[method, default: [:]][a, default: []]
                                    .append((keptIndices[j], named["cosine"] ?? .nan, named["kendall"] ?? .nan))
                            }
                        }
                        if analysed {
                            // Activation states at x and at each attacked x′ (the random perturbation's draws averaged).
                            for states in sharedStates ?? attacked.map(activations) {
                                for (c, s) in zip(cleanActivations, states) {
                                    for share in activationAgreement(c.values, s.values) {
                                        add(.agreement(method: method.rawValue, attack: a.rawValue, layer: c.layer), share)
                                    }
                                }
                            }
                        }
                        add(.seconds(radius: r, method: method.rawValue, attack: a.rawValue),
                            (clock.now - methodStart).seconds + (shared == nil ? 0 : sharedSeconds))
                        if communicator.rank == 0 && r == main && method == methods[0] && a == attacks[0] && figure.count < figureSamples {
                            let per = xs.count / kept.count, xv = xs.doubles, av = attacked[0].doubles
                            for j in 0..<min(kept.count, figureSamples - figure.count) {
                                let named = Dictionary(scored[j], uniquingKeysWith: { a, _ in a })
                                let label = predictedKept[j]
                                figure.append(AttributionFigure.Row(
                                    image: Array(xv[(j * per)..<((j + 1) * per)]), map: before[method]![j],
                                    attacked: Array(av[(j * per)..<((j + 1) * per)]), attackedMap: afters[0][j],
                                    className: label < test.classNames.count ? test.classNames[label] : "class \(label)",
                                    topKIntersection: named["topk_intersection"], kendall: named["kendall"]))
                            }
                        }
                    }
                }
            }
        }
        // Rank 0's share stands for everyone's: ranks hold equal slices.
        if communicator.rank == 0, let progress {
            let elapsed = max(1e-9, (clock.now - began).seconds)
            progress(String(format: "eval: %d/%d images in %.1f s (%.2f images/s)", count, count, elapsed, Double(count) / elapsed))
        }
        // The activation layers' names from one image's forward: every rank knows them, images or not.
        let layers = perImage ? network.preActivations(Tensor(zeros: [1] + config.inputShape, dtype: config.dtype), bound,
                                                       statistics: statistics).map(\.layer) : []
        let reduced = try sums.reduced(over: keys(radii: radii.count, activationLayers: layers), communicator: communicator)
        var summary = report(reduced, count: count, radii: radii, main: main, attack: attackSettings,
                             attribution: attributionSettings, config: config, ranks: communicator.size)
        if perImage {
            summary.perImage = try gatherPerImage(perImageScores, count: count, communicator: communicator)
        }
        let caption = attacks.first.map { AttributionFigure.Caption(method: methods[0].rawValue, attack: $0.rawValue, epsilon: radii[main], k: k) }
        return Report(report: summary, figure: figure, figureCaption: caption, imageShape: config.inputShape)
    }

    /// Each image's metrics between its map and its attacked maps, averaged over the attacked
    /// versions (the random perturbation's draws; one for the other attacks), finite values only.
    /// before[j], afters[d][j]: image j's map and its d-th attacked map.
    func averagedMetrics(_ before: [AttributionMap], _ afters: [[AttributionMap]]) -> [[(String, Double)]] {
        before.indices.map { j in
            let all = afters.map { AttributionComparison(before[j], $0[j], k: k, window: window, halfWidths: halfWidths).named }
            return all[0].indices.compactMap { i in
                let finite = all.map { $0[i].1 }.filter(\.isFinite)
                return finite.isEmpty ? nil : (all[0][i].0, finite.reduce(0, +) / Double(finite.count))
            }
        }
    }

    /// What every rank all-reduces, in one order: accuracies and counts, then per radius × attack ×
    /// method each comparison metric and the seconds, the sampling metrics, the activation
    /// agreement per layer (`activationLayers`, the network's, known to ranks without images).
    func keys(radii: Int, activationLayers: [String]) -> [EvaluationAccumulator.Key] {
        var keys: [EvaluationAccumulator.Key] = [.accuracy, .adversarialAccuracy, .attributed]
        let metrics = AttributionComparison.names(halfWidths: halfWidths)
        for r in 0..<radii {
            for a in attacks {
                for m in methods {
                    keys += metrics.map { .attribution(radius: r, method: m.rawValue, attack: a.rawValue, metric: $0) }
                    keys.append(.seconds(radius: r, method: m.rawValue, attack: a.rawValue))
                }
            }
        }
        if !sampling.metrics.isEmpty {
            keys += [.samplingDraws, .samplingPredictionChanges]
            for m in methods { keys += sampling.metrics.map { .sampling(method: m.rawValue, metric: $0.rawValue) } }
        }
        if perImage {
            for a in attacks { for m in methods { keys += activationLayers.map { .agreement(method: m.rawValue, attack: a.rawValue, layer: $0) } } }
        }
        return keys
    }

    /// The report from the all-reduced sums: mean, std and n per radius × method × attack × metric,
    /// seconds per image per attack × method, the sampling metrics, the activation agreement, and
    /// the settings they came from.
    func report(_ sums: EvaluationAccumulator.Reduced, count: Int, radii: [Double], main: Int, attack attackSettings: AttackSettings,
                attribution attributionSettings: AttributionSettings, config: TrainingConfig, ranks: Int) -> EvaluationReport {
        let attributed = sums.sum(.attributed)
        let metrics = AttributionComparison.names(halfWidths: halfWidths)
        var byRadius = [AttributionTable](repeating: [:], count: radii.count)
        var timing = [[String: [String: Double]]](repeating: [:], count: radii.count)
        for r in radii.indices {
            for a in attacks {
                for m in methods {
                    for metric in metrics {
                        byRadius[r][m.rawValue, default: [:]][a.rawValue, default: [:]][metric] =
                            sums.summary(.attribution(radius: r, method: m.rawValue, attack: a.rawValue, metric: metric))
                    }
                    timing[r][a.rawValue, default: [:]][m.rawValue] =
                        attributed > 0 ? sums.sum(.seconds(radius: r, method: m.rawValue, attack: a.rawValue)) / attributed : 0
                }
            }
        }
        var sampling: [String: [String: MetricSummary]] = [:]
        for m in methods {
            for metric in self.sampling.metrics {
                sampling[m.rawValue, default: [:]][metric.rawValue] = sums.summary(.sampling(method: m.rawValue, metric: metric.rawValue))
            }
        }
        var agreement: AttributionTable = [:]
        for key in sums.totals.keys {
            if case let .agreement(m, a, layer) = key { agreement[m, default: [:]][a, default: [:]][layer] = sums.summary(key) }
        }
        let draws = sums.sum(.samplingDraws)
        // The objective's weights under report.json's keys, which are the config's names for them.
        let weights = Dictionary(uniqueKeysWithValues: config.objective.weights.map { ($0.key.rawValue, $0.value) })
        func weight(_ key: EvaluationReport.CodingKeys) -> Double? { weights[key.stringValue] }
        return EvaluationReport(
            samples: count, k: k, window: window, lensHalfWidths: halfWidths, ranks: ranks, correctOnly: correctOnly,
            epsilon: radii[main], attackIterations: attackSettings.iterations, attackStep: attackSettings.stepSize,
            restarts: attackSettings.restarts, selection: attackSettings.selection.rawValue, quantize: attackSettings.quantize,
            igSteps: attributionSettings.igSteps, smoothgradSamples: attributionSettings.smoothGradSamples, randomDraws: attackSettings.draws,
            attackSoftplusBeta: attackBeta, methods: methods.map(\.rawValue), attacks: attacks.map(\.rawValue), protocolName: protocolName,
            accuracy: sums.mean(.accuracy), adversarialAccuracy: sums.mean(.adversarialAccuracy), attributionImages: Int(attributed),
            attributions: byRadius[main],
            secondsPerImage: timing[main],
            sweep: radii.count > 1 ? radii.indices.map { r in
                EvaluationReport.SweepEntry(epsilon: radii[r], epsilon255: radii[r] * 255, attributions: byRadius[r], secondsPerImage: timing[r])
            } : nil,
            method: config.objective.name, lambda: weight(.lambda), lambdaL2: weight(.lambdaL2), lambdaCos: weight(.lambdaCos),
            sampling: self.sampling.metrics.isEmpty ? nil : sampling,
            samplingSettings: self.sampling.metrics.isEmpty ? nil : EvaluationReport.SamplingReportSettings(
                metrics: self.sampling.metrics.map(\.rawValue), radius: self.sampling.radius, draws: self.sampling.draws,
                noise: self.sampling.noise.rawValue, epsMin: self.sampling.epsMin,
                predictionChangeRate: draws > 0 ? sums.sum(.samplingPredictionChanges) / draws : nil),
            activationAgreement: agreement.isEmpty ? nil : agreement)
    }

    /// The sampling metrics of one batch's kept images: `draws` x′ = x + noise per image (its own
    /// stream, so any rank count draws the same), the attribution of the clean prediction's class
    /// at each, the logits; each image's scores added under `.sampling(method, metric)`.
    private func addSamplingScores(xs: Tensor, clean: [AttributionMethod: Tensor], logits: Tensor, predicted: [Int],
                                   noise: PerturbationNoise, range: PixelRange, logitsAt: (Tensor) -> Tensor,
                                   raw: (AttributionMethod, Tensor) throws -> Tensor,
                                   add: (EvaluationAccumulator.Key, Double) -> Void) throws {
        let b = xs.shape[0]
        func split(_ v: [Double]) -> [[Double]] { let per = v.count / b; return (0..<b).map { Array(v[($0 * per)..<(($0 + 1) * per)]) } }
        let pixels = split(range.pixels(xs)), cleanLogits = split(logits.doubles)
        var drawPixels: [[[Double]]] = [], drawLogits: [[[Double]]] = [], same: [[Bool]] = []
        var drawAttributions: [AttributionMethod: [[[Double]]]] = [:]
        for d in 0..<sampling.draws {
            let xd = binary(.add, xs, noise.sampling(xs, sampling, range: range, draw: d))
            let ld = logitsAt(xd)
            drawPixels.append(split(range.pixels(xd)))
            drawLogits.append(split(ld.doubles))
            same.append(zip(argmaxRows(ld), predicted).map { $0 == $1 })
            for method in methods { drawAttributions[method, default: []].append(split(try raw(method, xd).doubles)) }
        }
        for j in 0..<b {
            for d in 0..<sampling.draws {
                add(.samplingDraws, 1)
                add(.samplingPredictionChanges, same[d][j] ? 0 : 1)
            }
        }
        for method in methods {
            let attributions = split(clean[method]!.doubles)
            for j in 0..<b {
                let observation = SamplingObservation(
                    attribution: attributions[j], pixels: pixels[j], logits: cleanLogits[j],
                    draws: (0..<sampling.draws).map { d in
                        (drawAttributions[method]![d][j], drawPixels[d][j], drawLogits[d][j], same[d][j])
                    })
                for (metric, value) in observation.scores(sampling.metrics, epsMin: sampling.epsMin) {
                    if let value { add(.sampling(method: method.rawValue, metric: metric.rawValue), value) }
                }
            }
        }
    }

    /// Every rank's per-image scores in test-set order, in one all-reduce: each rank fills its
    /// images' slots of a [count] vector per method × attack × (present, cosine, Kendall τ), and
    /// the vectors are summed.
    private func gatherPerImage(_ scores: [AttributionMethod: [AttributionAttack: [(index: Int, cosine: Double, kendall: Double)]]],
                                count: Int, communicator: Communicator) throws -> [String: [String: EvaluationReport.PerImage]] {
        let pairs = methods.flatMap { m in attacks.map { (m, $0) } }
        var flat = [Double](repeating: 0, count: 3 * count * pairs.count)
        for (p, (m, a)) in pairs.enumerated() {
            let base = 3 * count * p
            for s in scores[m]?[a] ?? [] where s.cosine.isFinite && s.kendall.isFinite {
                flat[base + s.index] = 1; flat[base + count + s.index] = s.cosine; flat[base + 2 * count + s.index] = s.kendall
            }
        }
        let all = try communicator.allreduce(flat, op: .sum, label: "per-image scores")
        var out: [String: [String: EvaluationReport.PerImage]] = [:]
        for (p, (m, a)) in pairs.enumerated() {
            let base = 3 * count * p, images = (0..<count).filter { all[base + $0] > 0 }
            out[m.rawValue, default: [:]][a.rawValue] = EvaluationReport.PerImage(
                images: images, cosine: images.map { all[base + count + $0] }, kendall: images.map { all[base + 2 * count + $0] })
        }
        return out
    }
}

/// An evaluation setting that cannot work with the model or data at hand, naming its option.
public struct EvaluationError: Error, CustomStringConvertible {
    public let option: String
    public let message: String
    public init(option: String, _ message: String) { self.option = option; self.message = message }
    public var description: String { "\(option): \(message)" }
}

/// Rows `indices` of a [B, ...] tensor, as a new [indices.count, ...] tensor.
func rows(_ x: Tensor, _ indices: [Int]) -> Tensor {
    let per = x.count / x.shape[0], v = x.doubles
    return Tensor(shape: [indices.count] + x.shape.dropFirst(), values: indices.flatMap { v[($0 * per)..<(($0 + 1) * per)] }, dtype: x.dtype)
}
