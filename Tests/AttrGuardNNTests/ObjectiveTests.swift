import AttrGuardAttribution
import AttrGuardCore
import AttrGuardNN
import Testing

/// Every objective on a small Softplus net: finite terms, and the total falls on a fixed batch.
@Suite struct ObjectiveTests {
    static let objectives: [(Objective, Perturbation)] = [
        (.standard, .none),
        (.gradNorm(lambda: 1, target: .loss), .none),
        (.l2cos(lambdaL2: 1, lambdaCos: 1, cosEps: 1e-12, target: .loss), .uniform(epsilon: 8.0 / 255)),
        (.igr(lambda: 1, steps: 2, cosEps: 1e-12, target: .logit), .pgd(epsilon: 8.0 / 255, stepSize: 8.0 / 255, steps: 1, randomStart: false)),
        (.pgd, .pgd(epsilon: 8.0 / 255, stepSize: 2.0 / 255, steps: 3, randomStart: true)),
        (.hessian(lambda: 0.01, target: .logit), .none),
        (.trades(beta: 6), .trades(epsilon: 8.0 / 255, stepSize: 2.0 / 255, steps: 3)),
        (.igNorm(lambda: 0.1, steps: 3),
         .integratedGradientNorm(epsilon: 8.0 / 255, stepSize: 2.0 / 255, steps: 2, randomStart: true, pathSteps: 2, lambda: 0.1, withCE: false)),
        (.igSumNorm(lambda: 0.1, steps: 3),
         .integratedGradientNorm(epsilon: 8.0 / 255, stepSize: 2.0 / 255, steps: 2, randomStart: true, pathSteps: 2, lambda: 0.1, withCE: true)),
        (.based(.trades(beta: 6), .igr(lambda: 1, steps: 2, cosEps: 1e-12, target: .logit)), .trades(epsilon: 8.0 / 255, stepSize: 2.0 / 255, steps: 2)),
        (.based(.pgd, .l2cos(lambdaL2: 1, lambdaCos: 1, cosEps: 1e-12, target: .loss)),
         .pgd(epsilon: 8.0 / 255, stepSize: 2.0 / 255, steps: 2, randomStart: true)),
        (.art(lambda: 0.5), .attributionAlignment(epsilon: 8.0 / 255, stepSize: 5.0 / 255, steps: 2, topK: 50)),
    ]

    @Test(arguments: 0..<12)
    func totalLossFallsOnAFixedBatch(index: Int) throws {
        let (objective, perturbation) = Self.objectives[index]
        let layers: [LayerSpec] = [.conv2d(in: 3, out: 6, kernel: 3, stride: 1, padding: 1, bias: true), .softplus(beta: 10),
                                   .maxpool2d(kernel: 2, stride: 2, padding: 0),
                                   .conv2d(in: 6, out: 8, kernel: 3, stride: 1, padding: 1, bias: false),
                                   .batchnorm2d(features: 8, eps: 1e-5, momentum: 0.1), .softplus(beta: 10),
                                   .globalAvgPool, .flatten, .linear(in: 8, out: 4, bias: true)]
        let net = try Network(layers: layers, inputShape: [3, 8, 8])
        var rng = RandomStream(seed: 5)
        var params = ParameterSet(network: net, dtype: .float32, rng: &rng)
        let x = Tensor.uniform([8, 3, 8, 8], low: 0, high: 1, dtype: .float32, rng: &rng)
        let labels = (0..<8).map { $0 % 4 }
        var stats = net.initialStatistics(dtype: .float32)
        var sgd = SGD(momentum: 0.9)
        var totals: [Double] = []
        for step in 0..<20 {
            let bound = params.variables()
            var model = Model(network: net, parameters: bound, statistics: stats, mode: .training)
            var attack = Model(network: net, parameters: bound, statistics: stats, mode: perturbation.attackMode)
            let noise = PerturbationNoise(seed: 9 &+ UInt64(step), count: 8)
            let xp = try perturb(x, labels: labels, with: perturbation, model: &attack, range: PixelRange(), noise: noise)
            let terms = try objective.terms(&model, x: x, perturbed: xp, probe: objective.needsProbe ? noise.hessianProbe(x) : nil, labels: labels)
            for (name, v) in terms.scalars { #expect(v.value.item.isFinite, "\(objective.name) \(name)") }
            totals.append(terms.total.value.item)
            let grads = try grad(of: terms.total, wrt: bound.variables)
            sgd.step(parameters: &params, gradient: params.pack(grads), learningRate: 0.05)
            stats = model.statistics
        }
        print("objective \(objective.name): total \(totals[0]) -> \(totals[19])")
        #expect(totals[19] < 0.8 * totals[0], "\(objective.name): \(totals)")
        if objective != .standard && objective != .pgd {
            var final = Model(network: net, parameters: params.variables(), statistics: stats, mode: .training)
            let probe = objective.needsProbe ? PerturbationNoise(seed: 1, count: 8).hessianProbe(x) : nil
            #expect(try objective.terms(&final, x: x, perturbed: x, probe: probe, labels: labels).regularizer.value.item >= 0)
        }
    }

    /// The hessian regularizer's parameter gradient is a third derivative of the network (∂θ of
    /// ‖∇ₓ⟨v, ∇ₓf⟩‖²): in Float64 it matches central finite differences of R(θ), along random
    /// directions and per coordinate, on a plain and on a batch-norm net.
    @Test(arguments: [false, true])
    func hessianRegularizerGradientIsThirdOrderExact(batchNorm: Bool) throws {
        var layers: [LayerSpec] = [.conv2d(in: 3, out: 4, kernel: 3, stride: 1, padding: 1, bias: !batchNorm)]
        if batchNorm { layers.append(.batchnorm2d(features: 4, eps: 1e-5, momentum: 0.1)) }
        layers += [.softplus(beta: 3), .conv2d(in: 4, out: 3, kernel: 3, stride: 2, padding: 1, bias: true), .softplus(beta: 3),
                   .globalAvgPool, .flatten, .linear(in: 3, out: 3, bias: true)]
        let net = try Network(layers: layers, inputShape: [3, 4, 4])
        var rng = RandomStream(seed: 21)
        let params = ParameterSet(network: net, dtype: .float64, rng: &rng)
        let x = Tensor.uniform([3, 3, 4, 4], low: 0, high: 1, dtype: .float64, rng: &rng)
        let labels = [0, 2, 1]
        let probe = PerturbationNoise(seed: 4, count: 3).hessianProbe(x)
        let objective = Objective.hessian(lambda: 0.7, target: .logit)
        func regularizer(_ flat: [Double]) throws -> (Double, [Double]) {
            var values: [String: Tensor] = [:]
            for (spec, offset) in zip(params.specs, params.offsets) {
                values[spec.name] = Tensor(shape: spec.shape, values: Array(flat[offset..<(offset + Shape.count(spec.shape))]), dtype: .float64)
            }
            let p = try ParameterSet(network: net, values: values, dtype: .float64, source: "test")
            let bound = p.variables()
            var model = Model(network: net, parameters: bound, statistics: net.initialStatistics(dtype: .float64), mode: .trainingFrozenStatistics)
            let r = try objective.terms(&model, x: x, perturbed: nil, probe: probe, labels: labels).regularizer
            return (r.value.item, p.pack(try grad(of: r, wrt: bound.variables)).doubles)
        }
        let theta = params.flat.doubles
        let (r0, analytic) = try regularizer(theta)
        #expect(r0 > 0 && analytic.contains { $0 != 0 })
        let h = 1e-5
        var worst = 0.0
        var directions: [[Double]] = (0..<3).map { _ in theta.map { _ in rng.normal() } }
        for i in stride(from: 0, to: theta.count, by: max(1, theta.count / 12)) {
            var e = [Double](repeating: 0, count: theta.count); e[i] = 1; directions.append(e)
        }
        for d in directions {
            let plus = try regularizer(zip(theta, d).map { $0 + h * $1 }).0, minus = try regularizer(zip(theta, d).map { $0 - h * $1 }).0
            let numeric = (plus - minus) / (2 * h), exact = zip(analytic, d).reduce(0) { $0 + $1.0 * $1.1 }
            worst = max(worst, abs(numeric - exact) / max(abs(exact), 1e-3 * (analytic.map(abs).max() ?? 1)))
        }
        print("hessian regularizer, batch norm \(batchNorm): R = \(r0), worst relative error against finite differences \(worst)")
        #expect(worst < 1e-6)
    }

    @Test func normalisedInputsGetPerChannelBallsAndRanges() throws {
        let range = PixelRange.normalized(mean: [0.5, 0.25], std: [0.5, 0.25])
        // channel 0 spans [−1, 1], channel 1 [−1, 3]; ε = 0.1 pixels is 0.2 and 0.4 input units.
        let center = Tensor(shape: [1, 2, 1, 2], values: [0.95, 0, 2.9, 0], dtype: .float64)
        let far = Tensor(shape: [1, 2, 1, 2], values: [5, -5, 5, -5], dtype: .float64)
        let p = projectToBall(far, center: center, epsilon: 0.1, range: range).doubles
        #expect(zip(p, [1.0, -0.2, 3.0, -0.4]).allSatisfy { abs($0 - $1) < 1e-12 }, "\(p)")
    }

    @Test func detachingTheSourceGradientChangesOnlyTheRegularizersGradient() throws {
        let net = try Network(layers: [.conv2d(in: 1, out: 2, kernel: 3, stride: 1, padding: 1, bias: true), .softplus(beta: 3),
                                       .globalAvgPool, .flatten, .linear(in: 2, out: 3, bias: true)], inputShape: [1, 4, 4])
        var rng = RandomStream(seed: 4)
        let params = ParameterSet(network: net, dtype: .float64, rng: &rng)
        let x = Tensor.uniform([2, 1, 4, 4], low: 0, high: 1, dtype: .float64, rng: &rng)
        let xp = Tensor.uniform([2, 1, 4, 4], low: 0, high: 1, dtype: .float64, rng: &rng)
        func regularizerGradient(_ detach: Bool) throws -> (Double, [Double]) {
            let bound = params.variables()
            var model = Model(network: net, parameters: bound, statistics: [:], mode: .training)
            let t = try Objective.l2cos(lambdaL2: 1, lambdaCos: 1, cosEps: 1e-12, target: .logit, detachSource: detach)
                .terms(&model, x: x, perturbed: xp, labels: [0, 2])
            return (t.regularizer.value.item, try grad(of: t.regularizer, wrt: bound.variables).flatMap { $0.value.doubles })
        }
        let (r0, g0) = try regularizerGradient(false), (r1, g1) = try regularizerGradient(true)
        #expect(abs(r0 - r1) < 1e-15)                       // same value
        #expect(zip(g0, g1).contains { abs($0 - $1) > 1e-6 })  // different gradient
        #expect(g1.allSatisfy { $0.isFinite })
    }

    @Test func perturbationsStayInTheBallAndPixelRange() throws {
        let net = try Network(layers: [.flatten, .linear(in: 12, out: 3, bias: true)], inputShape: [3, 2, 2])
        var rng = RandomStream(seed: 3)
        let params = ParameterSet(network: net, dtype: .float64, rng: &rng)
        var model = Model(network: net, parameters: params.variables(), statistics: [:], mode: .training)
        let x = Tensor.uniform([4, 3, 2, 2], low: 0, high: 1, dtype: .float64, rng: &rng)
        for p in [Perturbation.uniform(epsilon: 0.1), .pgd(epsilon: 0.1, stepSize: 0.04, steps: 5, randomStart: true)] {
            let xp = try #require(try perturb(x, labels: [0, 1, 2, 0], with: p, model: &model, range: PixelRange(), noise: PerturbationNoise(seed: 3, count: 4)))
            let d = zip(xp.doubles, x.doubles).map { abs($0 - $1) }
            #expect(d.max()! <= 0.1 + 1e-12 && d.max()! > 0.05)
            #expect(xp.doubles.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
        // PGD raises the loss.
        func ce(_ t: Tensor) -> Double { crossEntropy(model.logits(Variable(t)), labels: [0, 1, 2, 0]).value.item }
        let adv = try perturb(x, labels: [0, 1, 2, 0], with: .pgd(epsilon: 0.1, stepSize: 0.04, steps: 5, randomStart: false),
                              model: &model, range: PixelRange(), noise: PerturbationNoise(seed: 3, count: 4))!
        #expect(ce(adv) > ce(x))
    }
}
