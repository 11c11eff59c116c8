import AttrGuardAttribution
import AttrGuardData
import AttrGuardCore
import AttrGuardDistributed
import AttrGuardNN

/// A tiny double-backprop training run on generated data: a small Softplus CNN trained with
/// CE + l2/cosine alignment of input gradients (x' uniform in the ε-ball), SGD with momentum.
/// Under mpirun each rank trains on its slice of every global batch.
public struct DemoRun {
    public var steps = 60
    public var globalBatch = 64
    public var imageSize = 16
    public var classes = 4
    public var trainImages = 1024
    public var learningRate = 0.05
    public var seed: UInt64 = 0
    public var objective = Objective.l2cos(lambdaL2: 1, lambdaCos: 1, cosEps: 1e-12, target: .loss)
    public var perturbation = Perturbation.uniform(epsilon: 8.0 / 255)

    public init() {}

    /// Accuracy on freshly generated images (another seed), batch-norm in evaluation mode.
    func heldOutAccuracy(_ state: TrainingState, communicator: Communicator) throws -> Double {
        let test = SyntheticImages.generate(count: 256, classes: classes, size: imageSize, seed: seed &+ 1_000_003)
        var model = Model(network: state.network, parameters: state.parameters.variables(), statistics: state.statistics, mode: .evaluation)
        let predicted = argmaxRows(model.logits(Variable(test.images)).value)
        return Double(zip(predicted, test.labels).filter { $0 == $1 }.count) / Double(test.labels.count)
    }

    public static func network(classes: Int, imageSize: Int) throws -> Network {
        let a = LayerSpec.softplus(beta: 10)
        return try Network(layers: [
            .conv2d(in: 3, out: 16, kernel: 3, stride: 1, padding: 1, bias: false),
            .batchnorm2d(features: 16, eps: 1e-5, momentum: 0.1), a,
            .maxpool2d(kernel: 2, stride: 2, padding: 0),
            .conv2d(in: 16, out: 16, kernel: 3, stride: 1, padding: 1, bias: false),
            .batchnorm2d(features: 16, eps: 1e-5, momentum: 0.1), a,
            .globalAvgPool, .flatten,
            .linear(in: 16, out: classes, bias: true),
        ], inputShape: [3, imageSize, imageSize])
    }

    /// Runs the demo; `report` receives (step, terms, train accuracy of the step's batch).
    public func run(communicator: Communicator, report: (Int, [String: Double]) -> Void) throws -> [String: Double] {
        let network = try DemoRun.network(classes: classes, imageSize: imageSize)
        var rng = RandomStream(seed: seed, 1)
        var state = TrainingState(network: network, parameters: ParameterSet(network: network, dtype: .float32, rng: &rng),
                                  optimizer: SGD(momentum: 0.9, weightDecay: 5e-4))
        try communicator.broadcast(state.parameters.flat)
        let data = SyntheticImages.generate(count: trainImages, classes: classes, size: imageSize, seed: seed)
        guard globalBatch % communicator.size == 0 else {
            throw TrainingError(step: 0, message: "global batch \(globalBatch) is not divisible by \(communicator.size) ranks")
        }
        let local = globalBatch / communicator.size
        let imageCount = 3 * imageSize * imageSize
        var last: [String: Double] = [:]
        for step in 0..<steps {
            // Global batch k is samples [k·B, (k+1)·B) mod N of a fixed order; rank r takes its slice.
            let start = (step * globalBatch + communicator.rank * local) % trainImages
            let indices = (0..<local).map { (start + $0) % trainImages }
            var batch = [Float](repeating: 0, count: local * imageCount)
            let all = data.images.pointer(Float.self)
            for (j, i) in indices.enumerated() {
                for e in 0..<imageCount { batch[j * imageCount + e] = all[i * imageCount + e] }
            }
            let x = Tensor(shape: [local, 3, imageSize, imageSize], floats: batch)
            let labels = indices.map { data.labels[$0] }
            var stepRng = RandomStream(seed: seed, 2, UInt64(step), UInt64(communicator.rank))
            last = try trainStep(&state, objective: objective, perturbation: perturbation, x: x, labels: labels,
                                 learningRate: learningRate, range: PixelRange(), rng: &stepRng, communicator: communicator)
            report(step, last)
        }
        last["heldout_accuracy"] = try heldOutAccuracy(state, communicator: communicator)
        return last
    }
}
