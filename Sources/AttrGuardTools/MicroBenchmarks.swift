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
            bestTime = min(bestTime, d.seconds)
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

    /// One convolution layer shape as the step benchmarks' networks use it.
    public struct ConvShape: Sendable {
        public let name: String
        public let batch, channels, outChannels, size, kernel, stride, padding: Int

        public var geometry: ConvGeometry {
            ConvGeometry(channels: channels, height: size, width: size, kernel: kernel, stride: stride, padding: padding)
        }
        /// Multiply-adds ×2 of one of the three kernels (they all do the same arithmetic).
        public var flops: Double {
            2 * Double(batch * outChannels * geometry.outHeight * geometry.outWidth * channels * kernel * kernel)
        }
        public var json: [String: Any] {
            ["name": name, "batch": batch, "channels": channels, "out_channels": outChannels, "size": size,
             "kernel": kernel, "stride": stride, "padding": padding]
        }
    }

    /// Every distinct convolution of ResNet-18 (CIFAR stem) at batch 32 and SmallCNN at batch 64.
    public static let convShapes: [ConvShape] = {
        func s(_ n: String, _ b: Int, _ c: Int, _ o: Int, _ h: Int, _ k: Int, _ st: Int) -> ConvShape {
            ConvShape(name: n, batch: b, channels: c, outChannels: o, size: h, kernel: k, stride: st, padding: k / 2)
        }
        return [s("resnet18 stem 3→64 32²", 32, 3, 64, 32, 3, 1), s("resnet18 64→64 32²", 32, 64, 64, 32, 3, 1),
                s("resnet18 64→128 32² s2", 32, 64, 128, 32, 3, 2), s("resnet18 128→128 16²", 32, 128, 128, 16, 3, 1),
                s("resnet18 1×1 64→128 s2", 32, 64, 128, 32, 1, 2),
                s("resnet18 128→256 16² s2", 32, 128, 256, 16, 3, 2), s("resnet18 256→256 8²", 32, 256, 256, 8, 3, 1),
                s("resnet18 1×1 128→256 s2", 32, 128, 256, 16, 1, 2),
                s("resnet18 256→512 8² s2", 32, 256, 512, 8, 3, 2), s("resnet18 512→512 4²", 32, 512, 512, 4, 3, 1),
                s("resnet18 1×1 256→512 s2", 32, 256, 512, 8, 1, 2),
                s("smallcnn 3→32 32²", 64, 3, 32, 32, 3, 1), s("smallcnn 32→32 32²", 64, 32, 32, 32, 3, 1),
                s("smallcnn 32→64 16²", 64, 32, 64, 16, 3, 1), s("smallcnn 64→64 16²", 64, 64, 64, 16, 3, 1)]
    }()

    /// Milliseconds (best of `repeats`) of the forward, input-gradient and weight-gradient kernels.
    public static func conv(_ shape: ConvShape, path: ConvolutionPath, repeats: Int)
        -> (forward: Double, inputGrad: Double, weightGrad: Double) {
        var rng = RandomStream(seed: 4)
        let g = shape.geometry
        let x = Tensor.uniform([shape.batch, shape.channels, shape.size, shape.size], low: -1, high: 1, dtype: .float32, rng: &rng)
        let w = Tensor.uniform([shape.outChannels, shape.channels, shape.kernel, shape.kernel], low: -0.1, high: 0.1,
                               dtype: .float32, rng: &rng)
        let dy = Tensor.uniform([shape.batch, shape.outChannels, g.outHeight, g.outWidth], low: -1, high: 1, dtype: .float32, rng: &rng)
        let (st, p) = (shape.stride, shape.padding)
        let f = best(repeats: repeats) { _ = conv2d(x, w, stride: st, padding: p, path: path) }
        let gi = best(repeats: repeats) {
            _ = conv2dInputGrad(dy, w, height: shape.size, width: shape.size, stride: st, padding: p, path: path)
        }
        let gw = best(repeats: repeats) { _ = conv2dWeightGrad(x, dy, kernel: shape.kernel, stride: st, padding: p, path: path) }
        return (f * 1e3, gi * 1e3, gw * 1e3)
    }
}
