import AttrGuardCore
import Testing

/// The fused batch-norm primitives: first- and second-order gradient checks in Float64 for each
/// (the second order of a second-order kernel is BN's third order, through its composite rule),
/// and the fused kernels against the composite form built from elementwise primitives.
@Suite struct BatchNormTests {
    static let eps = 1e-5

    func expectClose(_ name: String, _ r: GradCheckResult) {
        print("gradcheck \(name): first-order rel err \(r.firstOrder), second-order rel err \(r.secondOrder)")
        #expect(r.firstOrder < 1e-6, "\(name) first order")
        #expect(r.secondOrder < 1e-6, "\(name) second order")
    }

    func inputs(_ seed: UInt64, _ shape: [Int] = [3, 2, 3, 3]) -> (u: Tensor, g: Tensor, x: Tensor, w: Tensor, b: Tensor) {
        var rng = RandomStream(seed: seed)
        let c = shape[1]
        return (GradCheck.random(shape, &rng), GradCheck.random(shape, &rng), GradCheck.random(shape, &rng, low: -2, high: 3),
                GradCheck.random([c], &rng, low: 0.5, high: 1.5), GradCheck.random([c], &rng))
    }

    @Test func fusedOpsGradientChecks() throws {
        let t = inputs(31), e = Self.eps
        expectClose("batchNorm", try GradCheck.check([t.x, t.w, t.b]) { batchNorm($0[0], weight: $0[1], bias: $0[2], eps: e).output })
        expectClose("batchNormInputGrad", try GradCheck.check([t.g, t.x, t.w]) { batchNormInputGrad($0[0], $0[1], weight: $0[2], eps: e) })
        expectClose("batchNormWeightGrad", try GradCheck.check([t.g, t.x]) { batchNormWeightGrad($0[0], $0[1], eps: e) })
        expectClose("batchNormSecondInputGrad", try GradCheck.check([t.u, t.g, t.x, t.w]) {
            batchNormSecondInputGrad($0[0], $0[1], $0[2], weight: $0[3], eps: e)
        })
        expectClose("batchNormSecondGammaGrad", try GradCheck.check([t.u, t.g, t.x]) {
            batchNormSecondGammaGrad($0[0], $0[1], $0[2], eps: e)
        })
        let beta = 3.0
        expectClose("batchNormSoftplus", try GradCheck.check([t.x, t.w, t.b]) {
            batchNormSoftplus($0[0], weight: $0[1], bias: $0[2], eps: e, beta: beta).output
        })
        // Only x varying: the backward takes the fused input-gradient node, and its second order
        // goes through that node's composite rule.
        expectClose("batchNormSoftplus (x only)", try GradCheck.check([t.x]) {
            batchNormSoftplus($0[0], weight: Variable(t.w), bias: Variable(t.b), eps: e, beta: beta).output
        })
        expectClose("batchNormSoftplusInputGrad", try GradCheck.check([t.g, t.x, t.w, t.b]) {
            batchNormSoftplusInputGrad($0[0], $0[1], weight: $0[2], bias: $0[3], eps: e, beta: beta)
        })
        // One variable in two argument slots: each slot must get its own partial derivative.
        expectClose("batchNormSecondInputGrad(g, g, x)", try GradCheck.check([t.g, t.x, t.w]) {
            batchNormSecondInputGrad($0[0], $0[0], $0[1], weight: $0[2], eps: e)
        })
    }

    func maxRelativeError(_ a: Tensor, _ b: Tensor) -> Double {
        let scale = max(b.doubles.map(Swift.abs).max() ?? 0, 1e-30)
        return zip(a.doubles, b.doubles).map { Swift.abs($0 - $1) }.max()! / scale
    }

    /// Fused kernels against the composite (Float64 to 1e-12; Float32 kernels, which accumulate in
    /// Double, against the Float64 composite to 1e-5), on a channel count and plane that are not
    /// powers of two.
    @Test(arguments: [DType.float64, .float32])
    func fusedMatchesComposite(dtype: DType) throws {
        let t = inputs(32, [4, 5, 3, 7]), e = Self.eps
        let tolerance = dtype == .float64 ? 1e-12 : 1e-5
        let (u, g, x, w, b) = (t.u.converted(to: dtype), t.g.converted(to: dtype), t.x.converted(to: dtype),
                               t.w.converted(to: dtype), t.b.converted(to: dtype))
        let xv = Variable(t.x, requiresGrad: true), wv = Variable(t.w, requiresGrad: true), bv = Variable(t.b, requiresGrad: true)
        let y = BatchNormComposite.forward(xv, wv, bv, eps: e)
        #expect(maxRelativeError(batchNormForward(x, gamma: w, beta: b, eps: e).y, y.value) < tolerance)
        // First order: the composite's gradients for output gradient g.
        let gv = Variable(t.g, requiresGrad: true)
        let firstGrads = try grad(of: y, wrt: [xv, wv], seed: gv, createGraph: true)
        #expect(maxRelativeError(batchNormInputGrad(g, x, gamma: w, eps: e), firstGrads[0].value) < tolerance)
        #expect(maxRelativeError(batchNormWeightGrad(g, x, eps: e), firstGrads[1].value) < tolerance)
        // Second order: ∂/∂x and ∂/∂γ of Σ u·dx.
        let second = try grad(of: (Variable(t.u) * firstGrads[0]).sum(), wrt: [xv, wv])
        #expect(maxRelativeError(batchNormSecondInputGrad(u, g, x, gamma: w, eps: e), second[0].value) < tolerance)
        #expect(maxRelativeError(batchNormSecondGammaGrad(u, g, x, eps: e), second[1].value) < tolerance)
        // And the composite second-order forms themselves agree with the tape's.
        #expect(maxRelativeError(BatchNormComposite.secondInputGrad(Variable(t.u), gv, xv, wv, eps: e).value, second[0].value) < 1e-12)
    }

    /// batchNormSoftplus against batch norm then softplus, to the regularizers' order: the value,
    /// the input gradient recorded on the tape, and the parameter gradients of ‖∂L/∂x‖² + L.
    @Test func fusedSoftplusMatchesTheTwoOps() throws {
        let t = inputs(34, [3, 4, 5, 5]), e = Self.eps, beta = 10.0
        func run(fused: Bool) throws -> [Tensor] {
            let x = Variable(t.x, requiresGrad: true), w = Variable(t.w, requiresGrad: true), b = Variable(t.b, requiresGrad: true)
            let z = fused ? batchNormSoftplus(x, weight: w, bias: b, eps: e, beta: beta).output
                          : batchNorm(x, weight: w, bias: b, eps: e).output.softplus(beta: beta)
            let loss = (z * Variable(t.u)).sum()
            let gx = try grad(of: loss, wrt: [x], createGraph: true)[0]
            let grads = try grad(of: (gx * gx).sum() + loss, wrt: [x, w, b])
            return [z.value, gx.value] + grads.map(\.value)
        }
        for (i, (a, b)) in zip(try run(fused: true), try run(fused: false)).enumerated() {
            #expect(maxRelativeError(a, b) < 1e-12, "output \(i)")
        }
    }

    @Test func runningStatisticsAreTheBatchMoments() {
        let t = inputs(33, [2, 3, 2, 2])
        let r = batchNorm(Variable(t.x), weight: Variable(t.w), bias: Variable(t.b), eps: Self.eps)
        let v = t.x.doubles
        for c in 0..<3 {
            let values = (0..<2).flatMap { b in (0..<4).map { v[(b * 3 + c) * 4 + $0] } }
            let mean = values.reduce(0, +) / 8
            let unbiased = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 7
            #expect(Swift.abs(r.mean.doubles[c] - mean) < 1e-12)
            #expect(Swift.abs(r.unbiasedVariance.doubles[c] - unbiased) < 1e-12)
        }
    }
}

/// Synchronized batch norm's composite on one process (the cross-rank sum is the identity there):
/// the same maps as the fused batch norm to second order, and gradient checks through the
/// cross-rank sum op. The multi-rank equivalence is DistributedTrainingTests'.
@Suite struct SyncBatchNormTests {
    struct OneRank: CrossRankReducer {
        func sum(_ t: Tensor) -> Tensor { t.copy() }
        func sum(_ t: Tensor, count: Int) -> (sum: Tensor, count: Int) { (t.copy(), count) }
    }

    @Test func matchesTheFusedBatchNormToSecondOrder() throws {
        var rng = RandomStream(seed: 41)
        let xv = GradCheck.random([3, 4, 3, 3], &rng, low: -2, high: 3), wv = GradCheck.random([4], &rng, low: 0.5, high: 1.5)
        let bv = GradCheck.random([4], &rng), uv = GradCheck.random([3, 4, 3, 3], &rng)
        func run(sync: Bool) throws -> [Tensor] {
            let x = Variable(xv, requiresGrad: true), w = Variable(wv, requiresGrad: true), b = Variable(bv, requiresGrad: true)
            let r = sync ? syncBatchNorm(x, weight: w, bias: b, eps: 1e-5, reducer: OneRank()) : batchNorm(x, weight: w, bias: b, eps: 1e-5)
            let loss = (r.output.softplus(beta: 4) * Variable(uv)).sum()
            let gx = try grad(of: loss, wrt: [x], createGraph: true)[0]
            return [r.output.value, r.mean, r.unbiasedVariance, gx.value] + (try grad(of: (gx * gx).sum(), wrt: [x, w, b]).map(\.value))
        }
        for (i, (a, b)) in zip(try run(sync: true), try run(sync: false)).enumerated() {
            let scale = max(b.doubles.map(Swift.abs).max() ?? 0, 1e-30)
            #expect(zip(a.doubles, b.doubles).map { Swift.abs($0 - $1) }.max()! / scale < 1e-12, "output \(i)")
        }
        let r = try GradCheck.check([xv, wv, bv]) { syncBatchNorm($0[0], weight: $0[1], bias: $0[2], eps: 1e-5, reducer: OneRank()).output }
        #expect(r.firstOrder < 1e-6 && r.secondOrder < 1e-6, "\(r)")
        let s = try GradCheck.check([wv]) { $0[0].summedOverRanks(OneRank()) * $0[0] }
        #expect(s.firstOrder < 1e-6 && s.secondOrder < 1e-6, "\(s)")
    }
}
