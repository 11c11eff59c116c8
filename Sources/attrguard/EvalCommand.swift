import AttrGuardAttribution
import AttrGuardData
import AttrGuardDistributed
import AttrGuardTraining
import ArgumentParser
import Foundation

/// Resolves a checkpoint argument (file or directory) and the config it was trained with.
func checkpointAndConfig(_ checkpoint: String, config: String?, overrides: [String]) throws -> (String, TrainingConfig) {
    let path = try Checkpoint.latest(in: checkpoint)
    let cfg = try config.map { try TrainingConfig.load(path: $0, overrides: overrides) }
        ?? TrainingConfig.parse(yaml: Checkpoint.configText(path), file: "\(path) (stored config)", overrides: overrides)
    return (path, cfg)
}

/// `attrguard eval --checkpoint C`: accuracy, adversarial accuracy, attribution robustness; JSON + PNG.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a checkpoint: accuracy, PGD accuracy, attribution robustness under attacks (report.json, attributions.png).")

    @Option(help: "Checkpoint file, or a checkpoint directory (its newest).") var checkpoint: String
    @Option(help: "Config (default: the one stored in the checkpoint).") var config: String?
    @Option(name: .customLong("set"), help: "Override a config key (repeatable).") var overrides: [String] = []
    @Option(help: "Output directory.") var out = "runs/eval"
    @Option(help: "Test images to evaluate.") var samples = 500
    @Option(help: "Images per batch.") var batch = 50
    @Option(help: "k of the top-k metrics and of the top-k attack.") var k = 100
    @Option(help: "LENS window.") var window = 3
    @Option(help: "Attribution methods, comma-separated: saliency,integrated_gradients,smoothgrad,gradient_x_input.")
    var methods = "saliency,integrated_gradients"
    @Option(help: "Attacks, comma-separated: topk, mass_center, random_sign.") var attacks = "topk,random_sign"
    @Option(help: "Attack ε in pixel units.") var epsilon = 8.0 / 255
    @Option(help: "Top-k attack iterations.") var attackIterations = 50
    @Option(help: "Top-k attack step in pixel units.") var attackStep = 1.0 / 255
    @Option(help: "Integrated-gradient steps.") var igSteps = 50
    @Option(help: "SmoothGrad samples.") var smoothgradSamples = 50
    @Flag(inversion: .prefixedNo, help: "Attribution metrics over the correctly classified images only (as the papers report them).")
    var correctOnly = true

    func validate() throws {
        try requireOption("--samples", samples, in: 1...10_000_000)
        try requireOption("--batch", batch, in: 1...100_000)
        try requireOption("--k", k, in: 1...100_000_000)
        try requireOption("--window", window, in: 1...1_001)
        guard window % 2 == 1 else { throw ValidationError("--window \(window) must be odd (a centred square window)") }
        try requireOption("--epsilon", epsilon, in: 0...1_000)
        guard epsilon > 0 else { throw ValidationError("--epsilon must be positive (the attack radius), got \(epsilon)") }
        try requireOption("--attack-iterations", attackIterations, in: 0...100_000)
        try requireOption("--attack-step", attackStep, in: 0...1_000)
        try requireOption("--ig-steps", igSteps, in: 1...10_000)
        try requireOption("--smoothgrad-samples", smoothgradSamples, in: 1...10_000)
    }

    func run() throws {
        let comm = Communicator.world
        do {
            var e = Evaluation()
            e.samples = samples; e.batch = batch; e.k = k; e.window = window; e.correctOnly = correctOnly
            e.progress = { line in print(line); fflushStandardOutput() }
            e.methods = try methods.split(separator: ",").map { m in
                guard let v = AttributionMethod(rawValue: String(m)) else { throw ValidationError("--methods: unknown method '\(m)'") }
                return v
            }
            e.attacks = try attacks.split(separator: ",").map { a in
                guard let v = AttributionAttack(rawValue: String(a)) else { throw ValidationError("--attacks: unknown attack '\(a)'") }
                return v
            }
            e.attack.epsilon = epsilon; e.attack.iterations = attackIterations; e.attack.stepSize = attackStep
            e.attribution.igSteps = igSteps; e.attribution.smoothGradSamples = smoothgradSamples
            let (path, cfg) = try checkpointAndConfig(checkpoint, config: config, overrides: overrides)
            if comm.rank == 0 {   // before the evaluation, not after it
                try prepareWritableDirectory(out, what: "--out", fileInTheWay: "--out names a file; give a directory for the report and figure")
            }
            let start = ContinuousClock.now
            let report = try e.run(config: cfg, checkpoint: path, communicator: comm)
            if comm.rank == 0 {
                var json = report.json
                json["seconds"] = Double((ContinuousClock.now - start).components.seconds)
                let data = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .prettyPrinted])
                try writeAtomically(data, to: "\(out)/report.json")
                if !report.figure.isEmpty {
                    try AttributionFigure.write(report.figure, imageShape: report.imageShape, normalization: cfg.normalization,
                                                to: "\(out)/attributions.png")
                }
                print("eval: \(json["samples"]!) images, accuracy \(json["accuracy"]!), adversarial accuracy \(json["adversarial_accuracy"]!); "
                      + "wrote \(out)/report.json and \(out)/attributions.png in \(json["seconds"]!) s")
            }
        } catch {
            FileHandle.standardError.write("attrguard eval: rank \(comm.rank) of \(comm.size): \(error)\n".data(using: .utf8)!)
            if comm.size > 1 { comm.abort(code: 1) }
            throw ExitCode.failure
        }
        comm.finalize()
    }
}

/// `attrguard export --checkpoint C --out model.safetensors`.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write a checkpoint's weights and batch-norm statistics as safetensors with PyTorch-style names.")

    @Option(help: "Checkpoint file or directory (its newest).") var checkpoint: String
    @Option(help: "Output .safetensors file.") var out: String

    func run() throws {
        do {
            let (path, cfg) = try checkpointAndConfig(checkpoint, config: nil, overrides: [])
            let network = try Network(layers: cfg.layers, inputShape: cfg.inputShape)
            let c = try Checkpoint.read(path, network: network)
            try Safetensors.write(parameters: c.parameters, statistics: c.statistics,
                                  metadata: ["format": "pt", "producer": "attrguard", "step": "\(c.step)", "config": cfg.text], to: out)
            print("exported \(c.parameters.names.count) parameters (\(network.parameterCount) values) and \(c.statistics.count) batch-norm statistics to \(out)")
        } catch {
            FileHandle.standardError.write("attrguard export: \(error)\n".data(using: .utf8)!)
            throw ExitCode.failure
        }
    }
}

import AttrGuardNN
