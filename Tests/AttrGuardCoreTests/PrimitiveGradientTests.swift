import AttrGuardCore
import Testing

/// First- and second-order gradient checks of every primitive op, in Float64.
@Suite struct PrimitiveGradientTests {
    static let tolerance = 1e-6

    func expectClose(_ name: String, _ r: GradCheckResult, second: Bool = true) {
        print("gradcheck \(name): first-order rel err \(r.firstOrder), second-order rel err \(r.secondOrder)")
        #expect(r.firstOrder < Self.tolerance, "\(name) first order")
        if second { #expect(r.secondOrder < Self.tolerance, "\(name) second order") }
    }

    @Test(arguments: [([2, 3, 4], [2, 3, 4]), ([2, 3, 4], [1, 3, 1]), ([4], [2, 3, 4]), ([2, 1, 4], [3, 1])])
    func broadcastingBinaryOps(a: [Int], b: [Int]) throws {
        var rng = RandomStream(seed: 1)
        let x = GradCheck.random(a, &rng), y = GradCheck.random(b, &rng, low: 0.5, high: 1.5)
        expectClose("add \(a) \(b)", try GradCheck.check([x, y]) { $0[0] + $0[1] })
        expectClose("sub \(a) \(b)", try GradCheck.check([x, y]) { $0[0] - $0[1] })
        expectClose("mul \(a) \(b)", try GradCheck.check([x, y]) { $0[0] * $0[1] })
        expectClose("div \(a) \(b)", try GradCheck.check([x, y]) { $0[0] / $0[1] })
    }

    @Test func unaryOps() throws {
        var rng = RandomStream(seed: 2)
        let x = GradCheck.random([3, 5], &rng, low: -2, high: 2)
        let positive = GradCheck.random([3, 5], &rng, low: 0.3, high: 2)
        let awayFromZero = GradCheck.distinct([3, 5], &rng, gap: 0.13)
        expectClose("exp", try GradCheck.check([x]) { $0[0].exp() })
        expectClose("log", try GradCheck.check([positive]) { $0[0].log() })
        expectClose("sqrt", try GradCheck.check([positive]) { $0[0].sqrt() })
        expectClose("sigmoid", try GradCheck.check([x]) { $0[0].sigmoid() })
        expectClose("softplus beta=1", try GradCheck.check([x]) { $0[0].softplus(beta: 1) })
        expectClose("softplus beta=10", try GradCheck.check([x]) { $0[0].softplus(beta: 10) })
        // Past PyTorch's threshold (beta·x > 20) softplus is the identity: slope 1, curvature 0.
        let large = GradCheck.random([2, 3], &rng, low: 2.5, high: 4)
        expectClose("softplus beta=10 above threshold", try GradCheck.check([large]) { $0[0].softplus(beta: 10) })
        let slope = unary(.softplusSlope(beta: 10), large).doubles
        #expect(slope.allSatisfy { $0 == 1 })
        // The fused backward pieces, each as a function of its own (first/second order = softplus's
        // second/third order), across the threshold.
        let g = GradCheck.random([3, 5], &rng), mixed = GradCheck.random([3, 5], &rng, low: -1, high: 3.5)
        for (name, at) in [("", x), (" around threshold", mixed)] {
            expectClose("softplusGradient\(name)", try GradCheck.check([g, at]) { softplusGradient($0[0], $0[1], beta: 10) })
            expectClose("softplusCurvature\(name)", try GradCheck.check([g, at]) { softplusCurvature($0[0], $0[1], beta: 10) })
        }
        expectClose("relu", try GradCheck.check([awayFromZero]) { $0[0].relu() })
        expectClose("abs", try GradCheck.check([awayFromZero]) { $0[0].abs() })
        expectClose("clampMin", try GradCheck.check([awayFromZero]) { $0[0].clampMin(0.2) })
        expectClose("affine", try GradCheck.check([x]) { $0[0].affine(scale: -1.7, shift: 0.3) })
        expectClose("neg", try GradCheck.check([x]) { -$0[0] })
    }

    @Test func shapeOps() throws {
        var rng = RandomStream(seed: 3)
        let x = GradCheck.random([2, 3, 4], &rng), small = GradCheck.random([3, 1], &rng)
        expectClose("sum(toShape:) [1,3,1]", try GradCheck.check([x]) { $0[0].sum(toShape: [1, 3, 1]) })
        expectClose("sum(toShape:) []", try GradCheck.check([x]) { $0[0].sum() })
        expectClose("broadcast(to:)", try GradCheck.check([small]) { $0[0].broadcast(to: [2, 3, 4]) })
        expectClose("reshape", try GradCheck.check([x]) { $0[0].reshaped([6, 4]) })
        expectClose("mean(axes:)", try GradCheck.check([x]) { $0[0].mean(axes: [0, 2]) })
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func matmulAllTranspositions(ta: Bool, tb: Bool) throws {
        var rng = RandomStream(seed: 4)
        let a = GradCheck.random(ta ? [4, 3] : [3, 4], &rng), b = GradCheck.random(tb ? [5, 4] : [4, 5], &rng)
        expectClose("matmul tA=\(ta) tB=\(tb)", try GradCheck.check([a, b]) { matmul($0[0], $0[1], transposeA: ta, transposeB: tb) })
    }

    /// (batch, channels, out, size, kernel, stride, padding)
    @Test(arguments: [(2, 3, 4, 6, 3, 1, 1), (2, 2, 3, 7, 3, 2, 1), (1, 3, 2, 5, 1, 1, 0), (2, 2, 3, 6, 2, 2, 0),
                      (1, 2, 2, 5, 5, 1, 2), (3, 1, 2, 4, 3, 3, 2)])
    func convolutionAndItsAdjoints(b: Int, c: Int, o: Int, n: Int, k: Int, s: Int, p: Int) throws {
        var rng = RandomStream(seed: 5)
        let x = GradCheck.random([b, c, n, n], &rng), w = GradCheck.random([o, c, k, k], &rng)
        let m = (n + 2 * p - k) / s + 1
        let dy = GradCheck.random([b, o, m, m], &rng)
        let tag = "b\(b) c\(c) o\(o) n\(n) k\(k) s\(s) p\(p)"
        expectClose("conv2d \(tag)", try GradCheck.check([x, w]) { conv2d($0[0], $0[1], stride: s, padding: p) })
        expectClose("conv2dInputGrad \(tag)", try GradCheck.check([dy, w]) {
            conv2dInputGrad($0[0], $0[1], height: n, width: n, stride: s, padding: p)
        })
        expectClose("conv2dWeightGrad \(tag)", try GradCheck.check([x, dy]) {
            conv2dWeightGrad($0[0], $0[1], kernel: k, stride: s, padding: p)
        })
    }

    @Test func convolutionWithRandomShapes() throws {
        var rng = RandomStream(seed: 6)
        for trial in 0..<4 {
            let b = 1 + Int(rng.next() % 2), c = 1 + Int(rng.next() % 3), o = 1 + Int(rng.next() % 3)
            let k = 1 + Int(rng.next() % 3), s = 1 + Int(rng.next() % 2), p = Int(rng.next() % UInt64(k))
            let n = k + Int(rng.next() % 4)
            let x = GradCheck.random([b, c, n, n], &rng), w = GradCheck.random([o, c, k, k], &rng)
            let bias = GradCheck.random([o], &rng)
            expectClose("conv2d+bias random #\(trial) b\(b) c\(c) o\(o) n\(n) k\(k) s\(s) p\(p)",
                        try GradCheck.check([x, w, bias], seed: UInt64(trial)) {
                            conv2d($0[0], weight: $0[1], bias: $0[2], stride: s, padding: p)
                        })
        }
    }

    @Test func pooling() throws {
        var rng = RandomStream(seed: 8)
        let x = GradCheck.distinct([2, 2, 6, 6], &rng, gap: 0.03)
        expectClose("maxpool2d k2", try GradCheck.check([x]) { maxPool2d($0[0], PoolGeometry(kernel: 2)) })
        expectClose("maxpool2d k3 s2 p1", try GradCheck.check([x]) { maxPool2d($0[0], PoolGeometry(kernel: 3, stride: 2, padding: 1)) })
        expectClose("avgpool2d k2", try GradCheck.check([x]) { avgPool2d($0[0], PoolGeometry(kernel: 2)) })
        expectClose("avgpool2d k3 s2 p1", try GradCheck.check([x]) { avgPool2d($0[0], PoolGeometry(kernel: 3, stride: 2, padding: 1)) })
        let dy = GradCheck.random([2, 2, 3, 3], &rng)
        expectClose("avgpool2d adjoint", try GradCheck.check([dy]) { avgPool2dAdjoint($0[0], PoolGeometry(kernel: 2), inputShape: [2, 2, 6, 6]) })
        let indices = [0, 5, 5, 17, 3, 9]
        expectClose("gather", try GradCheck.check([GradCheck.random([2, 9], &rng)]) { gather($0[0], indices: indices, shape: [2, 3]) })
        expectClose("scatterAdd", try GradCheck.check([GradCheck.random([2, 3], &rng)]) { scatterAdd($0[0], indices: indices, shape: [2, 9]) })
    }

    @Test func logSumExp() throws {
        var rng = RandomStream(seed: 9)
        expectClose("logSumExp", try GradCheck.check([GradCheck.random([4, 6], &rng, low: -3, high: 3)]) { $0[0].logSumExp() })
    }
}
