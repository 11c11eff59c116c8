import Foundation

/// One metric over the scored images: mean (nil when no image gave a finite value), sample
/// standard deviation, and how many images it is taken over.
public struct MetricSummary: Codable, Sendable, Equatable {
    public var mean: Double?
    public var std: Double
    public var n: Int

    public init(mean: Double?, std: Double, n: Int) { self.mean = mean; self.std = std; self.n = n }

    /// A mean that does not exist is written as null, not left out.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(mean, forKey: .mean)
        try c.encode(std, forKey: .std)
        try c.encode(n, forKey: .n)
    }
}

/// `[method][attack][metric]`, e.g. `["integrated_gradients"]["topk"]["kendall"]`.
public typealias AttributionTable = [String: [String: [String: MetricSummary]]]

/// What `attrguard eval` reports, typed; encoded as report.json (keys as listed in CodingKeys) at
/// the edge, read back by `attrguard results` (AttrGuardTraining's RunResults, which also reads
/// older reports).
public struct EvaluationReport: Codable, Sendable {
    // Settings
    public var samples: Int, k: Int, window: Int, lensHalfWidths: [Int], ranks: Int, correctOnly: Bool
    /// The radius (pixel units) `attributions` is at: `attack.epsilon` when the sweep holds it, else the sweep's largest.
    public var epsilon: Double
    public var attackIterations: Int, attackStep: Double, restarts: Int, selection: String, quantize: Bool
    public var igSteps: Int, smoothgradSamples: Int, randomDraws: Int, attackSoftplusBeta: Double
    public var methods: [String], attacks: [String]
    /// The `--protocol` preset, if one was used.
    public var protocolName: String?
    // Results
    /// Over every evaluated image (nil when there were none).
    public var accuracy: Double?, adversarialAccuracy: Double?
    /// Images the attribution metrics are over (the correctly classified ones by default).
    public var attributionImages: Int
    public var attributions: AttributionTable
    /// `[attack][method]`: seconds per attributed image, attack and scoring, on one rank.
    public var secondsPerImage: [String: [String: Double]]
    /// Every radius of an `--epsilons` sweep (nil without one).
    public var sweep: [SweepEntry]?
    // The model
    /// The training objective's name and its λ (`lambda`, or `lambda_l2` and `lambda_cos`).
    public var method: String
    public var lambda: Double?, lambdaL2: Double?, lambdaCos: Double?
    /// Set by the caller that evaluated a checkpoint file.
    public var checkpoint: String?, step: Int?, seconds: Double?
    /// `[method][metric]`: the sampling metrics (nil when none was asked for), and their settings.
    public var sampling: [String: [String: MetricSummary]]?
    public var samplingSettings: SamplingReportSettings?
    /// `[method][attack][layer]`: the share of units whose activation state agrees at x and at the
    /// attacked x′, at the report's radius.
    public var activationAgreement: AttributionTable?
    /// `[method][attack]`: each attributed image's cosine and Kendall τ at the report's radius.
    public var perImage: [String: [String: PerImage]]?

    /// Every field, in the order declared (the report's settings, results, model and extras).
    public init(samples: Int,
                k: Int,
                window: Int,
                lensHalfWidths: [Int],
                ranks: Int,
                correctOnly: Bool,
                epsilon: Double,
                attackIterations: Int,
                attackStep: Double,
                restarts: Int,
                selection: String,
                quantize: Bool,
                igSteps: Int,
                smoothgradSamples: Int,
                randomDraws: Int,
                attackSoftplusBeta: Double,
                methods: [String],
                attacks: [String],
                protocolName: String? = nil,
                accuracy: Double?,
                adversarialAccuracy: Double?,
                attributionImages: Int,
                attributions: AttributionTable,
                secondsPerImage: [String: [String: Double]],
                sweep: [SweepEntry]?,
                method: String,
                lambda: Double?,
                lambdaL2: Double?,
                lambdaCos: Double?,
                checkpoint: String? = nil,
                step: Int? = nil,
                seconds: Double? = nil,
                sampling: [String: [String: MetricSummary]]? = nil,
                samplingSettings: SamplingReportSettings? = nil,
                activationAgreement: AttributionTable? = nil,
                perImage: [String: [String: PerImage]]? = nil) {
        self.samples = samples
        self.k = k
        self.window = window
        self.lensHalfWidths = lensHalfWidths
        self.ranks = ranks
        self.correctOnly = correctOnly
        self.epsilon = epsilon
        self.attackIterations = attackIterations
        self.attackStep = attackStep
        self.restarts = restarts
        self.selection = selection
        self.quantize = quantize
        self.igSteps = igSteps
        self.smoothgradSamples = smoothgradSamples
        self.randomDraws = randomDraws
        self.attackSoftplusBeta = attackSoftplusBeta
        self.methods = methods
        self.attacks = attacks
        self.protocolName = protocolName
        self.accuracy = accuracy
        self.adversarialAccuracy = adversarialAccuracy
        self.attributionImages = attributionImages
        self.attributions = attributions
        self.secondsPerImage = secondsPerImage
        self.sweep = sweep
        self.method = method
        self.lambda = lambda
        self.lambdaL2 = lambdaL2
        self.lambdaCos = lambdaCos
        self.checkpoint = checkpoint
        self.step = step
        self.seconds = seconds
        self.sampling = sampling
        self.samplingSettings = samplingSettings
        self.activationAgreement = activationAgreement
        self.perImage = perImage
    }

    /// Per-image scores of one method × attack: test-set indices and the values, aligned.
    public struct PerImage: Codable, Sendable {
        public var images: [Int], cosine: [Double], kendall: [Double]
        public init(images: [Int], cosine: [Double], kendall: [Double]) { self.images = images; self.cosine = cosine; self.kendall = kendall }
    }

    /// The sampling metrics' settings as run, and the share of draws that changed the prediction.
    public struct SamplingReportSettings: Codable, Sendable {
        public var metrics: [String], radius: Double, draws: Int, noise: String, epsMin: Double
        public var predictionChangeRate: Double?

        public init(metrics: [String], radius: Double, draws: Int, noise: String, epsMin: Double, predictionChangeRate: Double?) {
            self.metrics = metrics; self.radius = radius; self.draws = draws; self.noise = noise; self.epsMin = epsMin
            self.predictionChangeRate = predictionChangeRate
        }

        enum CodingKeys: String, CodingKey {
            case metrics, radius, draws, noise, epsMin = "eps_min", predictionChangeRate = "prediction_change_rate"
        }
    }

    /// One radius of a sweep: its tables and timings.
    public struct SweepEntry: Codable, Sendable {
        public var epsilon: Double
        public var epsilon255: Double
        public var attributions: AttributionTable
        public var secondsPerImage: [String: [String: Double]]

        public init(epsilon: Double, epsilon255: Double, attributions: AttributionTable, secondsPerImage: [String: [String: Double]]) {
            self.epsilon = epsilon; self.epsilon255 = epsilon255; self.attributions = attributions; self.secondsPerImage = secondsPerImage
        }

        enum CodingKeys: String, CodingKey {
            case epsilon, epsilon255 = "epsilon_255", attributions, secondsPerImage = "seconds_per_image"
        }
    }

    /// report.json's keys (what older reports are read back through, RunResults).
    public enum CodingKeys: String, CodingKey {
        case samples, k, window, lensHalfWidths = "lens_half_widths", ranks, correctOnly = "correct_only", epsilon
        case attackIterations = "attack_iterations", attackStep = "attack_step", restarts, selection, quantize
        case igSteps = "ig_steps", smoothgradSamples = "smoothgrad_samples", randomDraws = "random_draws"
        case attackSoftplusBeta = "attack_softplus_beta", methods, attacks, protocolName = "protocol"
        case accuracy, adversarialAccuracy = "adversarial_accuracy", attributionImages = "attribution_images"
        case attributions, secondsPerImage = "seconds_per_image", sweep, method, lambda
        case lambdaL2 = "lambda_l2", lambdaCos = "lambda_cos", checkpoint, step, seconds
        case sampling, samplingSettings = "sampling_settings", activationAgreement = "activation_agreement", perImage = "per_image"
    }

    /// The objective's weights as report.json (and results.json) name them — the config's
    /// `method.*` keys of the same weights.
    public static let weightKeys = [CodingKeys.lambda, .lambdaL2, .lambdaCos].map(\.stringValue)

    /// report.json's bytes: sorted keys, indented; a missing value is null.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try encoder.encode(self)
    }

    /// The mean of `metric` for `method` under `attack` at the report's radius.
    public func mean(_ method: String, _ attack: String, _ metric: String) -> Double? {
        attributions[method]?[attack]?[metric]?.mean
    }
}
