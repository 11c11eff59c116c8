import AttrGuardAttribution
import AttrGuardCore
import AttrGuardData
import AttrGuardNN
import Foundation

/// An experiment, as read from a YAML file (every key is documented in configs/README.md).
public struct TrainingConfig: Sendable {
    /// `data.dataset`: generated images, CIFAR-10 binaries, or packed files (`attrguard data pack`).
    public enum Dataset: String, Sendable { case synthetic, cifar10, packed }
    /// `train.sync`: gradients every step (one model), or weights every `sync_every` steps (local SGD).
    public enum SyncMode: String, Sendable { case gradients, weights }

    /// `seed`: every random stream of the run derives from it (RandomPurpose).
    public var seed: UInt64
    /// `train.dtype`: float32, or float64 (gradient checks, exact rank-count comparisons).
    public var dtype: DType
    // model
    /// `model.*` resolved to a layer list (a named architecture or `model.layers`).
    public var layers: [LayerSpec]
    /// Batch norm with the statistics of the global batch across ranks (model.sync_batchnorm).
    public var syncBatchNorm: Bool
    /// [3, S, S], S = `data.image_size`.
    public var inputShape: [Int]
    // data
    public var dataset: Dataset
    /// `data.path`: the CIFAR-10 binary directory or the packed training file.
    public var dataPath: String
    /// `data.test_path`: the packed test file.
    public var testPath: String
    /// `data.train_per_class`, `data.test_per_class`: the generated dataset's size.
    public var syntheticTrainPerClass: Int
    public var syntheticTestPerClass: Int
    /// Train on the first N training images only (0: all); the test split is always whole.
    public var trainSubset: Int
    /// `data.augmentation` with its crop padding or minimum scale.
    public var augmentation: Augmentation
    /// Per-channel (mean, std) the loader normalises with; nil keeps pixels in [0, 1].
    public var normalization: (mean: [Double], std: [Double])?
    /// Where inputs live after normalisation, and how a pixel-unit ε maps into them.
    public var pixelRange: PixelRange
    // method
    /// `method.*`: the training objective and its λ.
    public var objective: Objective
    /// `method.perturbation.*`: how x' is drawn.
    public var perturbation: Perturbation
    // optimisation
    /// `optim.*`: SGD (momentum, Nesterov, weight decay) or AdamW.
    public var optimizer: Optimizer
    /// `optim.lr` and `schedule.*`; positions in epochs until `resolvedSchedule` converts them.
    public var schedule: LearningRateSchedule
    /// `schedule.unit` is epochs.
    public var scheduleDefinedByEpochs: Bool
    // loop
    /// `train.epochs`, `train.global_batch` (images per step over all ranks), `train.max_steps` (a cap).
    public var epochs: Int
    public var globalBatch: Int
    public var maxSteps: Int?
    /// `train.sync`, `train.sync_every`.
    public var sync: SyncMode
    public var syncEvery: Int
    /// `train.bucket_mb` in bytes: the gradient all-reduce's bucket size.
    public var bucketBytes: Int
    /// Threads per rank for BLAS, oneDNN and our own kernels (`train.threads`); nil: the environment's
    /// (OMP_NUM_THREADS / OPENBLAS_NUM_THREADS, 1 when unset).
    public var threads: Int?
    /// `train.log_every`, `train.eval_every`, `train.eval_samples` (0: the whole test split),
    /// `train.eval_attribution_samples`, `train.consistency_every` (the weight-hash check), in steps or images.
    public var logEvery: Int
    public var evalEvery: Int
    public var evalSamples: Int
    public var evalAttributionSamples: Int
    public var consistencyEvery: Int
    /// `train.collective_timeout_s`: how long a collective may wait for the other ranks before the
    /// job ends naming the ranks that did not arrive (0: for ever); start-up and the first step of
    /// an invocation get `firstStepTimeoutFactor`× it (loading, first-touch allocation, kernel choice).
    public var collectiveTimeout: Double
    public static let firstStepTimeoutFactor = 4.0
    // outputs
    /// `checkpoint.dir`, `checkpoint.every` (steps; 0: only the last), `checkpoint.keep` (newest kept).
    public var checkpointDir: String?
    public var checkpointEvery: Int
    public var checkpointKeep: Int
    /// `log.metrics`: the JSON-lines metrics file rank 0 writes.
    public var metricsPath: String?
    /// `log.activation_agreement`: log, per activation layer, the share of units in the same state
    /// at x and at the regularizer's x′ (`activation_agreement_<layer>` in the metrics).
    public var logActivationAgreement = false
    /// The divergence guard: weights whose l2 norm exceeds this (or is not finite) end the run
    /// before they are checkpointed, so the last good checkpoints stay (0: only the finite check).
    public var maxWeightNorm: Double
    /// The effective YAML (after --set overrides), stored in checkpoints.
    public var text: String
    /// The file the config was read from (or what names it: "inline.yaml", a checkpoint's stored
    /// config), for errors found later against the data or the launch.
    public var file = ""

    /// Reads `path`, applies `overrides` (`a.b=value`), validates everything.
    public static func load(path: String, overrides: [String] = []) throws -> TrainingConfig {
        // Read through open()/read(), so a pipe works too (`--config <(sed … base.yaml)`).
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw ConfigError(file: path, key: "-", message: "is a directory; give a YAML file")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ConfigError(file: path, key: "-", message: "cannot read the file: \(String(cString: strerror(errno)))")
        }
        defer { try? handle.close() }
        let data: Data
        do { data = try handle.readToEnd() ?? Data() } catch {
            throw ConfigError(file: path, key: "-", message: "cannot read the file: \((error as NSError).localizedFailureReason ?? error.localizedDescription)")
        }
        guard let yaml = String(data: data, encoding: .utf8) else {
            let valid = String(decoding: data, as: UTF8.self).prefix { $0 != "\u{FFFD}" }.utf8.count
            throw ConfigError(file: path, key: "-", message: "is not UTF-8 text (first bad byte near offset \(valid)); save it as UTF-8")
        }
        return try parse(yaml: yaml, file: path, overrides: overrides)
    }

    /// Parses YAML text (`file` names it in errors), applies `overrides`, validates, and refuses unknown keys.
    public static func parse(yaml: String, file: String, overrides: [String] = []) throws -> TrainingConfig {
        let r = try ConfigReader.parse(yaml: yaml, file: file, overrides: overrides)
        var config = try TrainingConfig(r)
        config.file = file
        let unknown = r.unknownKeys()
        if let first = unknown.first {
            throw r.error(first, "unknown key\(unknown.count > 1 ? " (also: \(unknown.dropFirst().joined(separator: ", ")))" : "")")
        }
        return config
    }

    /// Reads every section; each key is read once, so what is left over is unknown.
    private init(_ r: ConfigReader) throws {
        seed = UInt64(try r.int("seed", 0, min: 0))
        dtype = DType(rawValue: try r.string("train.dtype", "float32", oneOf: ["float32", "float64"]))!
        (dataset, dataPath, testPath) = try Self.readDataSource(r)
        // Every size that allocates has an upper bound, so a typo is an error rather than an attempt at terabytes.
        syntheticTrainPerClass = try r.int("data.train_per_class", 500, min: 1, max: 100_000)
        syntheticTestPerClass = try r.int("data.test_per_class", 100, min: 1, max: 100_000)
        trainSubset = try r.int("data.train_subset", 0, min: 0, max: 1 << 31)
        let size = try r.int("data.image_size", dataset == .packed ? nil : 32, min: 1, max: 1_024)
        augmentation = try Self.readAugmentation(r, imageSize: size)
        inputShape = [3, size, size]
        normalization = try Self.readNormalization(r)
        // ε and PGD steps are given in pixel units (x/255); with normalisation they scale by 1/std per channel.
        pixelRange = normalization.map { PixelRange.normalized(mean: $0.mean, std: $0.std) } ?? PixelRange(low: 0, high: 1)
        layers = try Self.readLayers(r, inputShape: inputShape)
        if dataset == .synthetic {
            let classes = try Network(layers: layers, inputShape: inputShape).outputShape[0]
            let bytes = Double(syntheticTrainPerClass + syntheticTestPerClass) * Double(classes) * Double(3 * size * size)
            guard bytes <= 16 * 1_073_741_824 else {
                throw r.error("data.train_per_class", String(format: "%d + %d images per class of %d classes at %d×%d would take %.0f GiB; "
                                                            + "the synthetic set is limited to 16 GiB", syntheticTrainPerClass,
                                                            syntheticTestPerClass, classes, size, size, bytes / 1_073_741_824))
            }
        }
        objective = try Self.readObjective(r)
        perturbation = try Self.readPerturbation(r, for: objective)
        optimizer = try Self.readOptimizer(r)
        epochs = try r.int("train.epochs", 1, min: 1, max: 1_000_000)
        globalBatch = try r.int("train.global_batch", 128, min: 1, max: 1 << 20)
        maxSteps = r.has("train.max_steps") ? try r.int("train.max_steps", min: 1, max: 1 << 40) : nil
        (schedule, scheduleDefinedByEpochs) = try Self.readSchedule(r)
        sync = SyncMode(rawValue: try r.string("train.sync", "gradients", oneOf: ["gradients", "weights"]))!
        syncBatchNorm = try r.bool("model.sync_batchnorm", false)
        if syncBatchNorm && sync == .weights {
            throw r.error("model.sync_batchnorm", "needs train.sync: gradients (with weights averaged every K steps the ranks train different models)")
        }
        syncEvery = try r.int("train.sync_every", 8, min: 1, max: 1 << 30)
        bucketBytes = Int(try r.double("train.bucket_mb", 25, min: 0.001, max: 65_536) * 1_048_576)
        threads = r.has("train.threads") ? try r.int("train.threads", min: 1, max: 1_024) : nil
        logEvery = try r.int("train.log_every", 10, min: 1, max: 1 << 40)
        evalEvery = try r.int("train.eval_every", 0, min: 0, max: 1 << 40)
        evalSamples = try r.int("train.eval_samples", 0, min: 0, max: 1 << 31)
        evalAttributionSamples = try r.int("train.eval_attribution_samples", 0, min: 0, max: 100_000)
        consistencyEvery = try r.int("train.consistency_every", 50, min: 0, max: 1 << 40)
        maxWeightNorm = try r.double("train.max_weight_norm", 1e6, min: 0, max: 1e30)
        collectiveTimeout = try r.double("train.collective_timeout_s", 300, min: 0, max: 1e7)
        checkpointDir = r.has("checkpoint.dir") ? try r.string("checkpoint.dir") : nil
        if checkpointDir?.isEmpty == true { throw r.error("checkpoint.dir", "is empty; give a directory, or leave the key out for no checkpoints") }
        checkpointEvery = try r.int("checkpoint.every", 0, min: 0, max: 1 << 40)
        checkpointKeep = try r.int("checkpoint.keep", 3, min: 1, max: 100_000)
        metricsPath = r.has("log.metrics") ? try r.string("log.metrics") : nil
        if metricsPath?.isEmpty == true { throw r.error("log.metrics", "is empty; give a file, or leave the key out for no metrics log") }
        logActivationAgreement = try r.bool("log.activation_agreement", false)
        text = r.yaml()
    }

    private static func readDataSource(_ r: ConfigReader) throws -> (Dataset, String, String) {
        let dataset = Dataset(rawValue: try r.string("data.dataset", oneOf: ["synthetic", "cifar10", "packed"]))!
        return (dataset, try r.string("data.path", dataset == .synthetic ? "" : nil), try r.string("data.test_path", dataset == .packed ? nil : ""))
    }

    private static func readAugmentation(_ r: ConfigReader, imageSize: Int) throws -> Augmentation {
        switch try r.string("data.augmentation", "crop_flip", oneOf: ["none", "crop_flip", "resized_crop_flip"]) {
        case "none": return .none
        case "crop_flip": return .cropFlip(padding: try r.int("data.crop_padding", 4, min: 0, max: imageSize))
        default: return .resizedCropFlip(minScale: try r.double("data.min_scale", 0.35, min: 0.01, max: 1))
        }
    }

    private static func readNormalization(_ r: ConfigReader) throws -> (mean: [Double], std: [Double])? {
        switch try r.string("data.normalize", "none", oneOf: ["none", "cifar10", "imagenet"]) {
        case "cifar10": return ([0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010])
        case "imagenet": return ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
        default: return nil
        }
    }

    /// model.*: a named architecture or a layer list, checked by building the network once.
    private static func readLayers(_ r: ConfigReader, inputShape: [Int]) throws -> [LayerSpec] {
        let size = inputShape[1]
        let name = try r.string("model.name", oneOf: ["smallcnn", "resnet18", "layers"])
        if name == "layers" {
            for key in ["model.activation", "model.beta", "model.stem"] where r.has(key) {
                throw r.error(key, "applies to model.name smallcnn and resnet18; a layer list sets it in its layers")
            }
        }
        let classes = try r.int("model.classes", 10, min: 2, max: 100_000)
        let activation: Activation = try r.string("model.activation", "softplus", oneOf: ["softplus", "relu"]) == "relu"
            ? .relu : .softplus(beta: try r.double("model.beta", 10, min: 1e-6, max: 1e4))
        let layers: [LayerSpec]
        switch name {
        case "smallcnn":
            guard size % 4 == 0 else { throw r.error("data.image_size", "smallcnn needs a multiple of 4, got \(size)") }
            layers = Architectures.smallCNN(classes: classes, activation: activation, inputSize: size)
        case "resnet18":
            let stem = ResNetStem(rawValue: try r.string("model.stem", size >= 64 ? "imagenet" : "cifar", oneOf: ["cifar", "imagenet"]))!
            layers = Architectures.resnet18(classes: classes, stem: stem, activation: activation)
        default:
            guard let list = r.raw("model.layers") else { throw r.error("model.layers", "missing (model.name is 'layers')") }
            do { layers = try LayerSpec.list(from: list, path: "model.layers") } catch let e as NetworkError {
                throw r.error(e.layer + (e.field.isEmpty ? "" : ".\(e.field)"), e.message)
            }
        }
        let network: Network
        do { network = try Network(layers: layers, inputShape: inputShape) } catch let e as NetworkError {
            throw r.error(e.layer.hasPrefix("model.") ? e.layer : "model.\(e.layer)", "\(e.field): \(e.message)")
        }
        // A layer list's classes are its last layer's outputs: model.classes, when given, must agree (not be ignored).
        if name == "layers" && r.has("model.classes") && network.outputShape != [classes] {
            throw r.error("model.classes", "is \(classes), but the layer list ends in \(network.outputShape.map(String.init).joined(separator: "×")) outputs")
        }
        return layers
    }

    /// method.*: the objective, its λ, and `method.base` (what its CE part is taken on).
    private static func readObjective(_ r: ConfigReader) throws -> Objective {
        let target = AttributionTarget(rawValue: try r.string("method.attribution_of", "loss", oneOf: ["loss", "logit"]))!
        let name = try r.string("method.name", oneOf: Objective.names)
        let base = try r.string("method.base", "standard", oneOf: ["standard", "pgd", "trades"])
        let regularized = ["gradnorm", "l2cos", "igr", "hessian", "ig_norm", "ig_sum_norm"]
        if base != "standard" {
            guard regularized.contains(name) else {
                throw r.error("method.base", "\(base) is the CE part of a regularized objective (\(regularized.joined(separator: ", "))); "
                              + "method.name \(name) has none to put it under" + (name == base ? " (it is \(base) training already)" : ""))
            }
            guard r.has("method.perturbation") else {
                throw r.error("method.perturbation", "missing: method.base \(base) trains on adversarial examples; give "
                              + "method.perturbation {kind: \(base), epsilon, step_size, steps} (one x′ serves the CE part and the regularizer)")
            }
        }
        let allowed = (Objective.keys[name] ?? []) + (base == "trades" ? ["beta"] : [])
        // A regularizer key of another method is named with the methods that read it (not left as an unknown key).
        for (other, keys) in Objective.keys.sorted(by: { $0.key < $1.key }) where other != name {
            for key in keys where r.has("method.\(key)") && !allowed.contains(key) {
                let readers = Objective.keys.filter { $0.value.contains(key) }.keys.sorted().joined(separator: ", ")
                throw r.error("method.\(key)", "is a hyper-parameter of \(readers), not of \(name)")
            }
        }
        let detach = name == "l2cos" ? try r.bool("method.detach_source_grad", false) : false
        _ = try r.double("method.cos_eps", 1e-8, min: 0, max: 1e-2)   // accepted (and checked) for every method, as it always was
        let objective = try Objective.named(name, target: target, detachSource: detach) { key, fallback in
            key == "ig_steps" ? Double(try r.int("method.ig_steps", Int(fallback ?? 4), min: 1, max: 1_000)) : try r.double("method.\(key)", fallback, min: 0, max: 1e6)
        }!
        if case let .art(lambda, _) = objective {
            // The authors' means run over the whole batch: over every rank's share here.
            return .art(lambda: lambda, gradientBatch: try r.int("train.global_batch", 128, min: 1, max: 1 << 20))
        }
        switch base {
        case "pgd": return .based(.pgd, objective)
        case "trades": return .based(.trades(beta: try r.double("method.beta", 6, min: 0, max: 1e6)), objective)
        default: return objective
        }
    }

    /// method.perturbation.*: how x' is drawn (uniform for l2cos and PGD for igr and pgd by default).
    private static func readPerturbation(_ r: ConfigReader, for objective: Objective) throws -> Perturbation {
        let defaultKind: String
        switch objective {
        case .l2cos: defaultKind = "uniform"
        case .igr, .pgd: defaultKind = "pgd"
        case .trades: defaultKind = "trades"
        case .igNorm, .igSumNorm: defaultKind = "ig_norm"
        case .art: defaultKind = "art"
        case let .based(base, _): defaultKind = base.name
        default: defaultKind = "none"
        }
        // Radii and steps in pixel units of a [0, 1] image: more than 1 leaves the image.
        let eps = try r.double("method.perturbation.epsilon", 8.0 / 255, min: 0, max: 1)
        let perturbation: Perturbation
        switch try r.string("method.perturbation.kind", defaultKind, oneOf: ["none", "uniform", "pgd", "trades", "ig_norm", "art"]) {
        case "none": perturbation = .none
        case "uniform": perturbation = .uniform(epsilon: eps)
        case "art":
            // The authors' training attack (cifar_robust_train.py): ε 8/255, 3 steps of 5/255, k_top 1000.
            perturbation = .attributionAlignment(epsilon: eps, stepSize: try r.double("method.perturbation.step_size", 5.0 / 255, min: 0, max: 1),
                                                 steps: try r.int("method.perturbation.steps", 3, min: 0, max: 10_000),
                                                 topK: try r.int("method.perturbation.top_k", 1000, min: 1, max: 1 << 24),
                                                 gradientBatch: { if case let .art(_, b) = objective { return b } else { return nil } }())
        case "ig_norm":
            // The authors' attack: ε 8/255, 7 steps of 2/255, random start, the IG term on m / approx_factor = 50 / 10 points.
            let (lambda, withCE): (Double, Bool)
            switch objective {
            case let .igNorm(l, _): (lambda, withCE) = (l, false)
            case let .igSumNorm(l, _): (lambda, withCE) = (l, true)
            default: throw r.error("method.perturbation.kind", "ig_norm maximises IG-NORM's own term: it needs method.name ig_norm or ig_sum_norm, not \(objective.name)")
            }
            perturbation = .integratedGradientNorm(epsilon: eps, stepSize: try r.double("method.perturbation.step_size", 2.0 / 255, min: 0, max: 1),
                                                   steps: try r.int("method.perturbation.steps", 7, min: 0, max: 10_000),
                                                   randomStart: try r.bool("method.perturbation.random_start", true),
                                                   pathSteps: try r.int("method.perturbation.path_steps", 5, min: 1, max: 1_000),
                                                   lambda: lambda, withCE: withCE)
        case "trades":
            // The TRADES authors' CIFAR-10 settings: ε 0.031, step 0.007, 10 steps (train_trades_cifar10.py).
            perturbation = .trades(epsilon: eps, stepSize: try r.double("method.perturbation.step_size", 0.007, min: 0, max: 1),
                                   steps: try r.int("method.perturbation.steps", 10, min: 0, max: 10_000))
        default:
            perturbation = .pgd(epsilon: eps, stepSize: try r.double("method.perturbation.step_size", 2.0 / 255, min: 0, max: 1),
                                steps: try r.int("method.perturbation.steps", 7, min: 1, max: 10_000),
                                randomStart: try r.bool("method.perturbation.random_start", true))
        }
        if case let .based(base, _) = objective {
            let kind: String
            switch perturbation {
            case .pgd: kind = "pgd"
            case .trades: kind = "trades"
            default: kind = "another"
            }
            guard kind == base.name else {
                throw r.error("method.perturbation.kind", "method.base \(base.name) draws its adversarial x′ with kind \(base.name), got \(kind == "another" ? "a different kind" : kind)")
            }
        }
        if objective.needsPerturbation, perturbation == .none {
            throw r.error("method.perturbation.kind", "\(objective.name) needs x' (uniform or pgd)")
        }
        return perturbation
    }

    private static func readOptimizer(_ r: ConfigReader) throws -> Optimizer {
        switch try r.string("optim.name", "sgd", oneOf: ["sgd", "adamw"]) {
        case "sgd":
            return .sgd(SGD(momentum: try r.double("optim.momentum", 0.9, min: 0, max: 0.999_999), nesterov: try r.bool("optim.nesterov", false),
                            weightDecay: try r.double("optim.weight_decay", 5e-4, min: 0, max: 1),
                            decoupledWeightDecay: try r.bool("optim.decoupled_weight_decay", false)))
        default:
            return .adamW(AdamW(beta1: try r.double("optim.beta1", 0.9, min: 0, max: 0.999_999),
                                beta2: try r.double("optim.beta2", 0.999, min: 0, max: 0.999_999),
                                epsilon: try r.double("optim.eps", 1e-8, min: 1e-30, max: 1),
                                weightDecay: try r.double("optim.weight_decay", 1e-2, min: 0, max: 1)))
        }
    }

    /// optim.lr and schedule.*; positions may be given in epochs (converted to steps once the data size is known).
    private static func readSchedule(_ r: ConfigReader) throws -> (LearningRateSchedule, byEpochs: Bool) {
        let lr = try r.double("optim.lr", min: 0, max: 100)
        let byEpochs = try r.string("schedule.unit", "epochs", oneOf: ["epochs", "steps"]) == "epochs"
        let warmup = try r.int("schedule.warmup", 0, min: 0, max: 1 << 30)
        let kind: LearningRateSchedule.Kind
        switch try r.string("schedule.kind", "cosine", oneOf: ["constant", "step", "multistep", "cosine"]) {
        case "constant": kind = .constant
        case "step": kind = .step(every: try r.int("schedule.every", min: 1, max: 1 << 30), gamma: try r.double("schedule.gamma", 0.1, min: 0, max: 1))
        case "multistep":
            let milestones = try r.intList("schedule.milestones", [])
            if let bad = milestones.first(where: { $0 < 1 || $0 > 1 << 30 }) { throw r.error("schedule.milestones", "each must be in 1...\(1 << 30), got \(bad)") }
            guard zip(milestones, milestones.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw r.error("schedule.milestones", "must increase strictly, got \(milestones)")
            }
            kind = .multiStep(milestones: milestones, gamma: try r.double("schedule.gamma", 0.1, min: 0, max: 1))
        default: kind = .cosine(totalSteps: 0, minimum: try r.double("schedule.min_lr", 0, min: 0, max: lr))
        }
        return (LearningRateSchedule(base: lr, kind: kind, warmupSteps: warmup), byEpochs)
    }

    /// The schedule with epoch-based positions converted to steps and the cosine length set.
    public func resolvedSchedule(stepsPerEpoch: Int, totalSteps: Int) -> LearningRateSchedule {
        var s = schedule
        let k = scheduleDefinedByEpochs ? stepsPerEpoch : 1
        s.warmupSteps *= k
        switch s.kind {
        case .constant: break
        case let .step(every, gamma): s.kind = .step(every: every * k, gamma: gamma)
        case let .multiStep(milestones, gamma): s.kind = .multiStep(milestones: milestones.map { $0 * k }, gamma: gamma)
        case let .cosine(_, minimum): s.kind = .cosine(totalSteps: totalSteps, minimum: minimum)
        }
        return s
    }
}
