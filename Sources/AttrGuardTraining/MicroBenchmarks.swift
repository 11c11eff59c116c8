import AttrGuardCore
import COpenBLAS

/// Timings for performance baselines (not tests): a monotonic clock, best of several runs.
public enum MicroBenchmarks {
    /// Seconds of the fastest of `repeats` runs of `body`, after one warm-up run.
    public static func best(repeats: Int, _ body: () -> Void) -> Double {
        body()
        var bestTime = Double.infinity
        let clock = ContinuousClock()
        for _ in 0..<repeats {
            let d = clock.measure(body)
            bestTime = min(bestTime, Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
        }
        return bestTime
    }

    /// sgemm GFLOP/s for n×n·n×n through `matmul` and through cblas_sgemm directly.
    public static func sgemm(n: Int, repeats: Int) -> (wrapper: Double, direct: Double) {
        var rng = RandomStream(seed: 3)
        let a = Tensor.uniform([n, n], low: -1, high: 1, dtype: .float32, rng: &rng)
        let b = Tensor.uniform([n, n], low: -1, high: 1, dtype: .float32, rng: &rng)
        let flops = 2 * Double(n) * Double(n) * Double(n)
        let wrapper = best(repeats: repeats) { _ = matmul(a, b) }
        let c = Tensor(zeros: [n, n], dtype: .float32)
        let direct = best(repeats: repeats) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(n), blasint(n), blasint(n), 1,
                        a.pointer(Float.self), blasint(n), b.pointer(Float.self), blasint(n), 0, c.mutablePointer(Float.self), blasint(n))
        }
        return (flops / wrapper / 1e9, flops / direct / 1e9)
    }

    /// conv2d forward, input-gradient and weight-gradient times (ms) for one layer shape.
    public static func conv(batch: Int, channels: Int, outChannels: Int, size: Int, kernel: Int, repeats: Int)
        -> (forward: Double, inputGrad: Double, weightGrad: Double, gflopsForward: Double) {
        var rng = RandomStream(seed: 4)
        let x = Tensor.uniform([batch, channels, size, size], low: -1, high: 1, dtype: .float32, rng: &rng)
        let w = Tensor.uniform([outChannels, channels, kernel, kernel], low: -0.1, high: 0.1, dtype: .float32, rng: &rng)
        let pad = kernel / 2
        let y = conv2d(x, w, stride: 1, padding: pad)
        let f = best(repeats: repeats) { _ = conv2d(x, w, stride: 1, padding: pad) }
        let gi = best(repeats: repeats) { _ = conv2dInputGrad(y, w, height: size, width: size, stride: 1, padding: pad) }
        let gw = best(repeats: repeats) { _ = conv2dWeightGrad(x, y, kernel: kernel, stride: 1, padding: pad) }
        let flops = 2 * Double(batch * outChannels * size * size * channels * kernel * kernel)
        return (f * 1e3, gi * 1e3, gw * 1e3, flops / f / 1e9)
    }
}
