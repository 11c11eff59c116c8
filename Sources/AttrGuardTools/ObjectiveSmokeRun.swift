import AttrGuardAttribution
import AttrGuardCore
import AttrGuardDistributed
import AttrGuardNN
import AttrGuardTraining

/// Every objective trained for a few steps on one fixed random batch: the loss terms of each
/// step, which must stay finite, and whether the total fell. A check of the double-backprop
/// machinery on the papers' networks at their batch size (not a test: ResNet-18 steps take seconds).
public struct ObjectiveSmokeRun {
    public var model = StepBenchmark.Model.smallcnn
    public var batch = 32
    public var steps = 20
    public var learningRate = 0.01
    public var seed: UInt64 = 0

    public init() {}

    /// Every objective by name from the factory (λ 1, igr's 10: the starting points of ALGORITHMS.md), with its x'.
    public static let objectives: [(name: String, objective: Objective, perturbation: Perturbation)] = Objective.names.map { name in
        let objective = try! Objective.named(name, target: name == "igr" ? .logit : .loss) { key, fallback in
            key == "lambda" && name == "igr" ? 10 : fallback ?? 1
        }!
        let perturbation: Perturbation
        switch name {
        case "l2cos": perturbation = .uniform(epsilon: 8.0 / 255)
        case "igr": perturbation = .pgd(epsilon: 8.0 / 255, stepSize: 8.0 / 255, steps: 1, randomStart: false)
        case "pgd": perturbation = .pgd(epsilon: 8.0 / 255, stepSize: 2.0 / 255, steps: 7, randomStart: true)
        default: perturbation = .none
        }
        return (name, objective, perturbation)
    }

    /// Runs `name`'s objective; `report` gets (step, terms) for every step.
    public func run(_ name: String, report: (Int, [String: Double]) -> Void) throws -> [Double] {
        guard let entry = ObjectiveSmokeRun.objectives.first(where: { $0.name == name }) else {
            throw ToolError(option: "--objective", "unknown objective '\(name)'")
        }
        let network = try Network(layers: model.layers, inputShape: [3, 32, 32])
        var rng = RandomStream(seed: seed)
        var state = TrainingState(network: network, parameters: ParameterSet(network: network, dtype: .float32, rng: &rng),
                                  optimizer: .sgd(SGD(momentum: 0.9)))
        let x = Tensor.uniform([batch, 3, 32, 32], low: 0, high: 1, dtype: .float32, rng: &rng)
        let labels = (0..<batch).map { _ in Int(rng.next() % 10) }
        var totals: [Double] = []
        let sync = GradientSync.across(Communicator.world, parameters: state.parameters, bucketBytes: 25 << 20)
        for step in 0..<steps {
            let terms = try trainStep(&state, objective: entry.objective, perturbation: entry.perturbation, x: x, labels: labels,
                                      learningRate: learningRate, range: PixelRange(),
                                      noise: PerturbationNoise(seed: seed &+ UInt64(step), count: batch), sync: sync)
            totals.append(terms.total)
            report(step, terms.values)
        }
        return totals
    }
}
