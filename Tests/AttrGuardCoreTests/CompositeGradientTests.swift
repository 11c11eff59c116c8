import AttrGuardCore
import Testing

/// First- and second-order gradient checks of the composite functions layers and losses use.
@Suite struct CompositeGradientTests {
    func expectClose(_ name: String, _ r: GradCheckResult) {
        print("gradcheck \(name): first-order rel err \(r.firstOrder), second-order rel err \(r.secondOrder)")
        #expect(r.firstOrder < 1e-6, "\(name) first order")
        #expect(r.secondOrder < 1e-6, "\(name) second order")
    }

    @Test func linearWithAndWithoutBias() throws {
        var rng = RandomStream(seed: 11)
        let x = GradCheck.random([3, 5], &rng), w = GradCheck.random([4, 5], &rng), b = GradCheck.random([4], &rng)
        expectClose("linear+bias", try GradCheck.check([x, w, b]) { linear($0[0], weight: $0[1], bias: $0[2]) })
        expectClose("linear", try GradCheck.check([x, w]) { linear($0[0], weight: $0[1], bias: nil) })
    }

    @Test func batchNormTrainingAndInference() throws {
        var rng = RandomStream(seed: 12)
        let x = GradCheck.random([3, 2, 3, 3], &rng), w = GradCheck.random([2], &rng, low: 0.5, high: 1.5)
        let b = GradCheck.random([2], &rng)
        expectClose("batchnorm2d train", try GradCheck.check([x, w, b]) { batchNormTraining($0[0], weight: $0[1], bias: $0[2], eps: 1e-5).output })
        let mean = GradCheck.random([2], &rng), variance = GradCheck.random([2], &rng, low: 0.5, high: 2)
        expectClose("batchnorm2d eval", try GradCheck.check([x, w, b]) {
            batchNormInference($0[0], weight: $0[1], bias: $0[2], runningMean: mean, runningVariance: variance, eps: 1e-5)
        })
    }

    @Test func globalAveragePoolAndFlatten() throws {
        var rng = RandomStream(seed: 13)
        expectClose("global_avgpool+flatten", try GradCheck.check([GradCheck.random([2, 3, 4, 4], &rng)]) { globalAvgPool($0[0]).flattenedBatch() })
    }

    @Test func crossEntropyAndTargetLogit() throws {
        var rng = RandomStream(seed: 14)
        let z = GradCheck.random([4, 5], &rng, low: -3, high: 3)
        let labels = [1, 0, 4, 2]
        expectClose("cross_entropy mean", try GradCheck.check([z]) { crossEntropy($0[0], labels: labels) })
        expectClose("cross_entropy per sample", try GradCheck.check([z]) { crossEntropyPerSample($0[0], labels: labels) })
        expectClose("target logit sum", try GradCheck.check([z]) { targetLogitSum($0[0], labels: labels) })
    }

    @Test func cosineAndSquaredL2() throws {
        var rng = RandomStream(seed: 15)
        let a = GradCheck.random([3, 2, 2, 2], &rng), b = GradCheck.random([3, 2, 2, 2], &rng)
        expectClose("cosine similarity", try GradCheck.check([a, b]) { cosineSimilarityPerSample($0[0], $0[1], eps: 1e-12) })
        expectClose("cosine distance", try GradCheck.check([a, b]) { 1.0 - cosineSimilarityPerSample($0[0], $0[1], eps: 1e-12) })
        expectClose("squared l2", try GradCheck.check([a, b]) { squaredL2PerSample($0[0], $0[1]) })
    }

    /// ∂/∂θ of a function of ∂L/∂x: the regularizers' shape, on a small conv-softplus-linear net.
    @Test func gradientOfInputGradientThroughANetwork() throws {
        var rng = RandomStream(seed: 16)
        let x = GradCheck.random([2, 2, 5, 5], &rng), w1 = GradCheck.random([3, 2, 3, 3], &rng, low: -0.5, high: 0.5)
        let w2 = GradCheck.random([4, 3], &rng), x2 = GradCheck.random([2, 2, 5, 5], &rng)
        let labels = [3, 1]
        func net(_ input: Variable, _ w1: Variable, _ w2: Variable) -> Variable {
            let h = conv2d(input, w1, stride: 2, padding: 1).softplus(beta: 5)
            return linear(globalAvgPool(h).flattenedBatch(), weight: w2, bias: nil)
        }
        // R(θ) = Σ (1 − cos(∇ₓCE(x), ∇ₓCE(x'))) + ‖∇ₓCE(x) − ∇ₓCE(x')‖²
        let r = try GradCheck.check([w1, w2], secondOrder: true) { p in
            let xa = Variable(x, requiresGrad: true), xb = Variable(x2, requiresGrad: true)
            let ga = try! grad(of: crossEntropy(net(xa, p[0], p[1]), labels: labels, reduction: .sum), wrt: [xa], createGraph: true)[0]
            let gb = try! grad(of: crossEntropy(net(xb, p[0], p[1]), labels: labels, reduction: .sum), wrt: [xb], createGraph: true)[0]
            return (1.0 - cosineSimilarityPerSample(ga, gb, eps: 1e-12)).sum() + squaredL2PerSample(ga, gb).sum()
        }
        expectClose("l2+cos of input gradients (third order on the second check)", r)
    }
}

@Suite struct GradientReadinessTests {
    /// onReady reports every input once, with its final gradient, and a gradient that no later
    /// node touches is reported before the backward ends.
    @Test func eachInputIsReportedOnceWithItsFinalGradient() throws {
        var rng = RandomStream(seed: 21)
        let w1 = Variable(GradCheck.random([3, 4], &rng), requiresGrad: true)
        let w2 = Variable(GradCheck.random([4, 2], &rng), requiresGrad: true)
        let unused = Variable(GradCheck.random([2], &rng), requiresGrad: true)
        let x = Variable(GradCheck.random([5, 3], &rng))
        // w2 is used last in the forward, so its gradient is final first; w1 is used twice.
        let h = matmul(x, w1).softplus(beta: 2) + matmul(x, w1)
        let loss = (matmul(h, w2) * matmul(h, w2)).sum()
        var events: [(Int, [Double])] = []
        let grads = try grad(of: loss, wrt: [w1, w2, unused]) { i, g in events.append((i, g.value.doubles)) }
        #expect(events.map(\.0).sorted() == [0, 1, 2])
        #expect(events.first?.0 == 1)
        for (i, g) in events { #expect(g == grads[i].value.doubles) }
        #expect(events.first { $0.0 == 2 }!.1.allSatisfy { $0 == 0 })
    }
}

/// A releasing backward (a training step's last) gives the same gradients and frees the graph
/// behind the output as it goes: an intermediate held only by the graph is gone afterwards.
@Suite struct ReleasingBackwardTests {
    @Test func sameGradientsAndTheGraphIsFreed() throws {
        var rng = RandomStream(seed: 5)
        let xv = GradCheck.random([3, 4], &rng), wv = GradCheck.random([4, 2], &rng)
        func run(releasing: Bool) throws -> (grads: [Tensor], intermediateAlive: Bool) {
            let x = Variable(xv, requiresGrad: true), w = Variable(wv, requiresGrad: true)
            weak var hidden: Variable?
            let loss: Variable = {
                let h = matmul(x, w).softplus(beta: 2)
                hidden = h
                return (h * h).sum()
            }()
            let g = try grad(of: loss, wrt: [x, w], releasingGraph: releasing).map(\.value)
            _ = loss.value   // the output itself stays readable
            return (g, hidden != nil)
        }
        let kept = try run(releasing: false), released = try run(releasing: true)
        #expect(kept.intermediateAlive)
        #expect(!released.intermediateAlive)
        for (a, b) in zip(kept.grads, released.grads) { #expect(a.doubles == b.doubles) }
    }
}
