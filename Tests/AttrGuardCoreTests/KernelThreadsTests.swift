import Foundation
import AttrGuardCore
import Testing

/// Our kernels split over threads compute what they compute on one: every element (and every
/// channel's sums) is done by the same code in the same order, so the results are bit-identical.
@Suite struct KernelThreadsTests {
    @Test(arguments: [DType.float32, .float64])
    func threadedKernelsMatchTheSerialOnesBitForBit(dtype: DType) {
        var rng = RandomStream(seed: 12)
        let shape = [8, 16, 32, 32]   // 131072 elements: 4 pieces of elementwiseGrain, 4 channels a piece
        let x = Tensor.uniform(shape, low: -2, high: 3, dtype: dtype, rng: &rng), g = Tensor.uniform(shape, low: -1, high: 1, dtype: dtype, rng: &rng)
        let u = Tensor.uniform(shape, low: -1, high: 1, dtype: dtype, rng: &rng)
        let gamma = Tensor.uniform([16], low: 0.5, high: 1.5, dtype: dtype, rng: &rng), beta = Tensor.uniform([16], low: -1, high: 1, dtype: dtype, rng: &rng)
        func all() -> [[Double]] {
            let sum = x.copy()
            addInPlace(sum, g)
            let f = batchNormForward(x, gamma: gamma, beta: beta, eps: 1e-5)
            return [unary(.softplus(beta: 3), x), unary(.exp, x), binary(.mul, x, g), binary(.div, g, x), softplusDerivative(.gradient, g, x, beta: 4),
                    softplusDerivative(.curvature, g, x, beta: 4), sum, f.y, f.mean, f.variance, batchNormInputGrad(g, x, gamma: gamma, eps: 1e-5),
                    batchNormWeightGrad(g, x, eps: 1e-5), batchNormSecondInputGrad(u, g, x, gamma: gamma, eps: 1e-5),
                    batchNormSecondGammaGrad(u, g, x, eps: 1e-5)].map(\.doubles)
        }
        let serial = all()
        for threads in [2, 3, 4] {
            let threaded = KernelThreads.$count.withValue(threads) { all() }
            for (i, (a, b)) in zip(serial, threaded).enumerated() { #expect(a == b, "kernel \(i) on \(threads) threads") }
        }
        // The pieces really run on other threads: a piece count above one.
        #expect(KernelThreads.$count.withValue(4) { piecesOf(shape.reduce(1, *)) } == 4)
    }

    func piecesOf(_ n: Int) -> Int {
        var pieces = 0
        let lock = NSLock()
        forEachPiece(n, grain: elementwiseGrain) { _ in lock.withLock { pieces += 1 } }
        return pieces
    }
}
