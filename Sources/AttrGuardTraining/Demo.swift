import AttrGuardAttribution
import AttrGuardCore
import AttrGuardData
import AttrGuardDistributed
import AttrGuardNN

/// The quickstart: a small Softplus CNN trained with CE + l2/cosine alignment of input
/// gradients (x' uniform in the ε-ball) on the generated CIFAR-format dataset (10 classes,
/// 32×32, crop + flip augmentation), SGD with momentum, then accuracy on its test split.
/// Under mpirun every rank takes its slice of each global batch (EpochPlan).
public struct DemoRun {
    public var steps = 150
    public var globalBatch = 64
    public var trainPerClass = 300
    public var learningRate = 0.05
    public var seed: UInt64 = 0
    public var objective = Objective.l2cos(lambdaL2: 1, lambdaCos: 1, cosEps: 1e-12, target: .loss)
    public var perturbation = Perturbation.uniform(epsilon: 8.0 / 255)

    public init() {}

    /// [B,3,32,32] → 16 → pool → 32 → pool → 32 → global pool → 10, batch norm and Softplus(10) after each conv.
    public static func network() throws -> Network {
        let a = LayerSpec.softplus(beta: 10)
        func block(_ cin: Int, _ cout: Int) -> [LayerSpec] {
            [.conv2d(in: cin, out: cout, kernel: 3, stride: 1, padding: 1, bias: false), .batchnorm2d(features: cout, eps: 1e-5, momentum: 0.1), a]
        }
        let layers = block(3, 16) + [.maxpool2d(kernel: 2, stride: 2, padding: 0)] + block(16, 32)
            + [.maxpool2d(kernel: 2, stride: 2, padding: 0)] + block(32, 32) + [.globalAvgPool, .flatten, .linear(in: 32, out: 10, bias: true)]
        return try Network(layers: layers, inputShape: CIFAR10.imageShape)
    }

    /// Runs the demo; `report` receives (step, loss terms averaged over ranks).
    public func run(communicator: Communicator, report: (Int, [String: Double]) -> Void) throws -> [String: Double] {
        let network = try DemoRun.network()
        var rng = RandomStream(seed: seed, 1)
        var state = TrainingState(network: network, parameters: ParameterSet(network: network, dtype: .float32, rng: &rng),
                                  optimizer: .sgd(SGD(momentum: 0.9, weightDecay: 5e-4)))
        try communicator.broadcast(state.parameters.flat)
        let train = SyntheticDataset.store(count: trainPerClass * 10, seed: seed)
        let loader = BatchLoader(store: train, augmentation: .cropFlip(padding: 4), seed: seed)
        let schedule = LearningRateSchedule(base: learningRate, kind: .cosine(totalSteps: steps, minimum: 0), warmupSteps: 5)
        var last: [String: Double] = [:]
        var plan = EpochPlan(count: train.count, globalBatch: globalBatch, seed: seed, epoch: 0)
        for step in 0..<steps {
            let epoch = step / plan.steps
            if epoch != plan.epoch { plan = EpochPlan(count: train.count, globalBatch: globalBatch, seed: seed, epoch: epoch) }
            let indices = try plan.localIndices(step: step % plan.steps, rank: communicator.rank, size: communicator.size)
            let (x, labels) = loader.batch(indices, epoch: epoch)
            // x' noise per (step, sample): the same whichever rank holds the sample.
            let noise = PerturbationNoise(seed: seed, keys: indices.map { UInt64(step) << 32 | UInt64($0) })
            last = try trainStep(&state, objective: objective, perturbation: perturbation, x: x, labels: labels,
                                 learningRate: schedule.rate(at: step), range: PixelRange(), noise: noise, communicator: communicator)
            report(step, last)
        }
        last["test_accuracy"] = try testAccuracy(state, communicator: communicator)
        return last
    }

    /// Accuracy on the generated test split (another seed), batch norm in evaluation mode,
    /// each rank scoring its share and the counts summed over ranks.
    func testAccuracy(_ state: TrainingState, communicator: Communicator) throws -> Double {
        let test = SyntheticDataset.store(count: 1000, seed: seed &+ 0x7E57)
        let loader = BatchLoader(store: test)
        let mine = Array(stride(from: communicator.rank, to: test.count, by: communicator.size))
        var correct = 0.0
        for chunk in stride(from: 0, to: mine.count, by: 100) {
            let (x, labels) = loader.batch(Array(mine[chunk..<min(mine.count, chunk + 100)]), epoch: 0)
            var model = Model(network: state.network, parameters: state.parameters.variables(), statistics: state.statistics, mode: .evaluation)
            correct += Double(zip(argmaxRows(model.logits(Variable(x)).value), labels).filter { $0 == $1 }.count)
        }
        return try communicator.allreduce([correct], op: .sum)[0] / Double(test.count)
    }
}
