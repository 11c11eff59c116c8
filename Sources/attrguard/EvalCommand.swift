import AttrGuardCore
import AttrGuardAttribution
import AttrGuardData
import AttrGuardDistributed
import AttrGuardNN
import AttrGuardReport
import AttrGuardTraining
import ArgumentParser
import Foundation

/// `attrguard eval --checkpoint C`: accuracy, adversarial accuracy, attribution robustness; JSON + PNG.
/// Settings come from the defaults, then a `--protocol` preset, then the options given.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a checkpoint: accuracy, PGD accuracy, attribution robustness under attacks (report.json, attributions.png, sweep-*.png).")

    @OptionGroup var source: CheckpointOptions
    @Option(help: "Output directory.") var out = "runs/eval"
    @Option(name: .customLong("protocol"),
            help: "A paper's evaluation settings: lens, ghorbani or l2cos; or sampling (the sampling metrics with Captum's defaults, no attack). Options given beside it override its values.")
    var evaluationProtocol: EvaluationProtocol?
    @Option(help: "Test images to evaluate.") var samples = 500
    @Option(help: "Images per batch.") var batch = 50
    @Option(help: "k of the top-k metrics and of the top-k attack (default 100; fewer than the map's pixels).") var k: Int?
    @Option(help: "Window (odd) of lens_topk_intersection and the max-pooled rank correlations (default 3).") var window: Int?
    @Option(help: "Half-widths w of the LENS family, comma-separated (default 1,2,3: 3×3, 5×5, 7×7).") var windows: String?
    @Option(help: "Attribution methods, comma-separated: saliency, integrated_gradients, smoothgrad, gradient_x_input (default saliency,integrated_gradients).")
    var methods: String?
    @Option(help: "Attacks, comma-separated: topk, mass_center, random_sign, manipulation, random_perturbation (default topk,random_sign).")
    var attacks: String?
    @Option(help: "Attack ε in pixel units (default 8/255).") var epsilon: Double?
    @Option(help: "A sweep of attack ε in 1/255 units, comma-separated (e.g. 1,2,4,8): every metric at each, and sweep-METHOD.png.")
    var epsilons: String?
    @Option(help: "Attack iterations (sign steps, or Adam steps of the manipulation; default 50).") var attackIterations: Int?
    @Option(help: "Sign-step size in pixel units (default 1/255).") var attackStep: Double?
    @Option(help: "Runs of the top-k and mass-center attacks per image, from x then from random points of the ε-ball (default 1).")
    var restarts: Int?
    @Option(help: "Iterate the top-k and mass-center attacks keep: objective (each attack's own), topk (lowest top-k intersection), kendall (lowest Kendall τ).")
    var selection: AttackSelection?
    @Flag(inversion: .prefixedNo, help: "Round attacked images to whole 1/255 levels after each step (as the LENS code).") var quantize: Bool?
    @Option(help: "Draws per image of random_perturbation (default 10).") var draws: Int?
    @Option(help: "Border width of the manipulation target map (default 5 pixels per 32).") var frameWidth: Int?
    @Option(help: "Softplus β replacing ReLU in the attacks' gradients (default 10).") var attackBeta: Double?
    @Option(help: "Integrated-gradient steps (default 50).") var igSteps: Int?
    @Option(help: "SmoothGrad samples (default 50).") var smoothgradSamples: Int?
    @Flag(inversion: .prefixedNo, help: "Attribution metrics over the correctly classified images only, as the papers report them (default on).")
    var correctOnly: Bool?
    @Option(help: "Sampling metrics, comma-separated: max_sensitivity, avg_sensitivity, local_lipschitz, ris, ros (configs/README.md, Sampling metrics; default none).")
    var samplingMetrics: String?
    @Option(help: "Radius r of the sampling metrics' noise, pixel units (default 0.02, Captum's).") var samplingRadius: Double?
    @Option(help: "Draws x′ per image of the sampling metrics (default 10, Captum's).") var samplingDraws: Int?
    @Option(help: "Noise of the sampling metrics: uniform (U[−r, r], Captum's) or gaussian (N(0, r²)).") var samplingNoise: SamplingNoise?

    func validate() throws {
        try requireOption("--samples", samples, in: 1...10_000_000)
        try requireOption("--batch", batch, in: 1...100_000)
        if let k { try requireOption("--k", k, in: 1...100_000_000) }
        if let window {
            try requireOption("--window", window, in: 1...1_001)
            guard window % 2 == 1 else { throw ValidationError("--window \(window) must be odd (a centred square window)") }
        }
        _ = try halfWidths()
        if let epsilon {
            try requireOption("--epsilon", epsilon, in: 0...1_000)
            guard epsilon > 0 else { throw ValidationError("--epsilon must be positive (the attack radius), got \(epsilon)") }
        }
        _ = try sweep()
        if let attackIterations { try requireOption("--attack-iterations", attackIterations, in: 0...100_000) }
        if let attackStep { try requireOption("--attack-step", attackStep, in: 0...1_000) }
        if let restarts { try requireOption("--restarts", restarts, in: 1...1_000) }
        if let draws { try requireOption("--draws", draws, in: 1...10_000) }
        if let frameWidth { try requireOption("--frame-width", frameWidth, in: 1...10_000) }
        if let attackBeta { guard attackBeta > 0 && attackBeta <= 1e6 else { throw ValidationError("--attack-beta must be in (0, 1e6], got \(attackBeta)") } }
        if let igSteps { try requireOption("--ig-steps", igSteps, in: 1...10_000) }
        if let smoothgradSamples { try requireOption("--smoothgrad-samples", smoothgradSamples, in: 1...10_000) }
        _ = try list("--methods", methods, AttributionMethod.self)
        _ = try list("--attacks", attacks, AttributionAttack.self)
        _ = try list("--sampling-metrics", samplingMetrics, SamplingMetric.self)
        if let samplingRadius {
            guard samplingRadius > 0 && samplingRadius <= 1 else { throw ValidationError("--sampling-radius must be in (0, 1] (pixel units), got \(samplingRadius)") }
        }
        if let samplingDraws { try requireOption("--sampling-draws", samplingDraws, in: 1...10_000) }
    }

    /// `--windows` as half-widths, each at least 1.
    func halfWidths() throws -> [Int]? { try windows.map(halfWidthList) }

    /// `--epsilons` in pixel units (given in 1/255), each positive.
    func sweep() throws -> [Double]? {
        try epsilons.map { text in
            try commaList("--epsilons", text, { Double($0).flatMap { $0.isFinite && $0 > 0 && $0 <= 255 ? $0 / 255 : nil } }) {
                "'\($0)' is not a positive ε in 1/255 units (at most 255)"
            }
        }
    }

    func list<T: RawRepresentable & CaseIterable>(_ flag: String, _ text: String?, _: T.Type) throws -> [T]? where T.RawValue == String {
        try text.map { text in
            try commaList(flag, text, { T(rawValue: $0) }) { "unknown value '\($0)' (one of \(T.allCases.map(\.rawValue).joined(separator: ", ")))" }
        }
    }

    /// Defaults, then the preset, then the options given.
    func evaluation(mapPixels: Int) throws -> Evaluation {
        var e = Evaluation()
        evaluationProtocol?.apply(to: &e, mapPixels: mapPixels)
        e.samples = samples; e.batch = batch
        if let k { e.k = k }
        if let window { e.window = window }
        if let w = try halfWidths() { e.halfWidths = w }
        if let m = try list("--methods", methods, AttributionMethod.self) { e.methods = m }
        if let a = try list("--attacks", attacks, AttributionAttack.self) { e.attacks = a }
        if let epsilon { e.attack.epsilon = epsilon }
        if let s = try sweep() { e.epsilons = s }
        if let attackIterations { e.attack.iterations = attackIterations }
        if let attackStep { e.attack.stepSize = attackStep }
        if let restarts { e.attack.restarts = restarts }
        if let selection { e.attack.selection = selection }
        if let quantize { e.attack.quantize = quantize }
        if let draws { e.attack.draws = draws }
        if let frameWidth { e.attack.frameWidth = frameWidth }
        if let attackBeta { e.attackBeta = attackBeta }
        if let igSteps { e.attribution.igSteps = igSteps }
        if let smoothgradSamples { e.attribution.smoothGradSamples = smoothgradSamples }
        if let correctOnly { e.correctOnly = correctOnly }
        if let m = try list("--sampling-metrics", samplingMetrics, SamplingMetric.self) { e.sampling.metrics = m }
        if let samplingRadius { e.sampling.radius = samplingRadius }
        if let samplingDraws { e.sampling.draws = samplingDraws }
        if let samplingNoise { e.sampling.noise = samplingNoise }
        return e
    }

    func run() throws {
        try onEveryRank("eval") { comm in
            let (path, cfg) = try source.resolve()
            var e = try evaluation(mapPixels: cfg.inputShape[1] * cfg.inputShape[2])
            e.progress = { line in print(line); fflushStandardOutput() }
            e.allowUncheckedCheckpoint = source.allowUncheckedCheckpoint
            if comm.rank == 0 {   // before the evaluation, not after it
                try prepareWritableDirectory(out, what: "--out", fileInTheWay: "--out names a file; give a directory for the report and figure")
            }
            let start = ContinuousClock.now
            let result = try e.run(config: cfg, checkpoint: path, communicator: comm)
            if comm.rank == 0 {
                var report = result.report
                report.seconds = ((ContinuousClock.now - start).seconds * 10).rounded() / 10
                try writeAtomically(try report.json(), to: "\(out)/report.json")
                var written = ["\(out)/report.json"]
                if !result.figure.isEmpty, let caption = result.figureCaption {
                    try writeAtomically(try AttributionFigure.pngData(result.figure, caption: caption, imageShape: result.imageShape,
                                                                      normalization: cfg.normalization),
                                        to: "\(out)/attributions.png")
                    written.append("\(out)/attributions.png")
                }
                if let figure = KendallCosineFigure.figure(report: report) {
                    try writeAtomically(try figure.pngData(), to: "\(out)/kendall-vs-cosine.png")
                    written.append("\(out)/kendall-vs-cosine.png")
                }
                for method in e.methods {
                    if let figure = SweepFigure.figure(report: report, method: method.rawValue) {
                        try writeAtomically(try figure.pngData(), to: "\(out)/sweep-\(method.rawValue).png")
                        written.append("\(out)/sweep-\(method.rawValue).png")
                    }
                }
                print("eval: \(report.samples) images, accuracy \(report.accuracy.map { "\($0)" } ?? "-"), "
                      + "adversarial accuracy \(report.adversarialAccuracy.map { "\($0)" } ?? "-"); "
                      + "wrote \(written.joined(separator: ", ")) in \(report.seconds!) s")
            }
        }
    }
}

/// `attrguard export --checkpoint C --out model.safetensors`.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write a checkpoint's weights and batch-norm statistics as safetensors with PyTorch-style names.")

    @OptionGroup var source: CheckpointOptions
    @Option(help: "Output .safetensors file.") var out: String

    func run() throws {
        try reportingFailure("export") {
            let (path, cfg) = try source.resolve()
            let network = try Network(layers: cfg.layers, inputShape: cfg.inputShape)
            let c = try Checkpoint.read(path, network: network, allowUnchecked: source.allowUncheckedCheckpoint)
            try Safetensors.write(parameters: c.parameters, statistics: c.statistics,
                                  metadata: ["format": "pt", "producer": "attrguard", "step": "\(c.step)", "config": cfg.text], to: out)
            print("exported \(c.parameters.names.count) parameters (\(network.parameterCount) values) and \(c.statistics.count) batch-norm statistics to \(out)")
        }
    }
}
