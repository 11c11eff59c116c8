import AttrGuardCore
import AttrGuardNN
import Testing

@Suite struct OptimizerTests {
    func oneParameter(_ value: Double) throws -> ParameterSet {
        let net = try Network(layers: [.flatten, .linear(in: 1, out: 1, bias: false)], inputShape: [1, 1, 1])
        return try ParameterSet(network: net, values: ["1.weight": Tensor(shape: [1, 1], values: [value], dtype: .float64)],
                                dtype: .float64, source: "test")
    }

    /// Hand-computed against torch.optim.SGD's update rule.
    @Test func sgdMomentumNesterovAndWeightDecay() throws {
        var p = try oneParameter(1.0)
        var sgd = SGD(momentum: 0.9, weightDecay: 0.1)
        let g = Tensor(shape: [1], values: [0.5], dtype: .float64)
        sgd.step(parameters: &p, gradient: g, learningRate: 0.1)      // d = 0.6, v = 0.6, p = 0.94
        #expect(abs(p.flat.doubles[0] - 0.94) < 1e-12)
        sgd.step(parameters: &p, gradient: g, learningRate: 0.1)      // d = 0.594, v = 1.134, p = 0.8266
        #expect(abs(p.flat.doubles[0] - 0.8266) < 1e-12)

        var q = try oneParameter(1.0)
        var nesterov = SGD(momentum: 0.9, nesterov: true)
        nesterov.step(parameters: &q, gradient: g, learningRate: 0.1) // v = 0.5, update = 0.5 + 0.45
        #expect(abs(q.flat.doubles[0] - 0.905) < 1e-12)

        var r = try oneParameter(1.0)
        var decoupled = SGD(momentum: 0, weightDecay: 0.1, decoupledWeightDecay: true)
        decoupled.step(parameters: &r, gradient: g, learningRate: 0.1) // p·(1 − 0.01) − 0.05
        #expect(abs(r.flat.doubles[0] - 0.94) < 1e-12)
    }

    /// Hand-computed against torch.optim.AdamW's update rule.
    @Test func adamWMatchesPyTorchsRule() throws {
        var p = try oneParameter(1.0)
        var adam = Optimizer.adamW(AdamW(weightDecay: 0.01))
        let g = Tensor(shape: [1], values: [0.5], dtype: .float64)
        adam.step(parameters: &p, gradient: g, learningRate: 0.1)   // 1·(1 − 0.001) − 0.1·0.5/(0.5 + 1e-8)
        #expect(abs(p.flat.doubles[0] - (0.999 - 0.1 * 0.5 / (0.5 + 1e-8))) < 1e-12)
        adam.step(parameters: &p, gradient: g, learningRate: 0.1)
        let second = (0.999 - 0.1 * 0.5 / (0.5 + 1e-8)) * 0.999 - 0.1 * 0.5 / (0.5 + 1e-8)
        #expect(abs(p.flat.doubles[0] - second) < 1e-12)
        #expect(adam.steps == 2 && adam.buffers.keys.sorted() == ["exp_avg", "exp_avg_sq"])
        // Restoring the state continues identically.
        var q = try oneParameter(p.flat.doubles[0])
        var restored = Optimizer.adamW(AdamW(weightDecay: 0.01))
        restored.restore(buffers: adam.buffers, steps: adam.steps)
        adam.step(parameters: &p, gradient: g, learningRate: 0.1)
        restored.step(parameters: &q, gradient: g, learningRate: 0.1)
        #expect(p.flat.doubles == q.flat.doubles)
    }

    @Test func learningRateSchedules() {
        let step = LearningRateSchedule(base: 0.1, kind: .step(every: 10, gamma: 0.1))
        #expect(abs(step.rate(at: 9) - 0.1) < 1e-15 && abs(step.rate(at: 10) - 0.01) < 1e-15)
        let multi = LearningRateSchedule(base: 1, kind: .multiStep(milestones: [3, 5], gamma: 0.5))
        #expect(multi.rate(at: 2) == 1 && multi.rate(at: 3) == 0.5 && multi.rate(at: 7) == 0.25)
        let cosine = LearningRateSchedule(base: 1, kind: .cosine(totalSteps: 100, minimum: 0))
        #expect(abs(cosine.rate(at: 50) - 0.5) < 1e-12 && abs(cosine.rate(at: 100)) < 1e-12)
        let warm = LearningRateSchedule(base: 1, kind: .constant, warmupSteps: 4)
        #expect(warm.rate(at: 0) == 0.25 && warm.rate(at: 3) == 1 && warm.rate(at: 4) == 1)
    }
}
