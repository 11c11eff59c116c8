import AttrGuardCore
import Foundation
import Testing

/// Every Float32 convolution path (the default `fastest`, our Winograd, oneDNN's Winograd where
/// faster, oneDNN direct, grouped GEMMs) against the im2col reference, which the Float64 gradient checks verify;
/// and second-order gradients through oneDNN against Float64. Our Winograd kernels have their own
/// suite (WinogradTests).
@Suite struct ConvolutionPathTests {
    /// (batch, channels, out, size, kernel, stride, padding): ResNet-style layers, the 7×7 stem,
    /// odd sizes under stride 2, channel counts that are not multiples of oneDNN's block of 16,
    /// Winograd's shapes (8×8 maps: forward and input grad; 16×16 and odd 13×13: all three), stride 3
    /// with padding 2, and batches the grouped GEMMs split: 5 images of 32×37² (stride 2) in groups
    /// of 2, 2, 1; 3 of 64×48² in groups of 1.
    @Test(arguments: [(2, 16, 32, 8, 3, 1, 1), (3, 3, 16, 9, 3, 1, 1), (2, 17, 5, 7, 3, 2, 1), (1, 32, 16, 8, 1, 2, 0),
                      (2, 3, 16, 15, 7, 2, 3), (2, 20, 24, 6, 2, 2, 0), (1, 16, 16, 5, 5, 1, 2), (4, 64, 64, 4, 3, 1, 1),
                      (2, 64, 64, 16, 3, 1, 1), (2, 40, 24, 13, 3, 1, 1), (2, 128, 128, 8, 3, 1, 1), (2, 16, 8, 10, 3, 3, 2),
                      (5, 32, 8, 37, 3, 2, 1), (3, 64, 16, 48, 3, 2, 1)])
    func oneDNNMatchesReference(b: Int, c: Int, o: Int, n: Int, k: Int, s: Int, p: Int) {
        var rng = RandomStream(seed: UInt64(b * 1000 + c * 10 + k))
        let m = (n + 2 * p - k) / s + 1
        let x64 = Tensor.uniform([b, c, n, n], low: -1, high: 1, dtype: .float64, rng: &rng)
        let w64 = Tensor.uniform([o, c, k, k], low: -0.5, high: 0.5, dtype: .float64, rng: &rng)
        let dy64 = Tensor.uniform([b, o, m, m], low: -1, high: 1, dtype: .float64, rng: &rng)
        let (x, w, dy) = (x64.converted(to: .float32), w64.converted(to: .float32), dy64.converted(to: .float32))
        let tag = "b\(b) c\(c) o\(o) n\(n) k\(k) s\(s) p\(p)"
        let truth = (conv2d(x64, w64, stride: s, padding: p),
                     conv2dInputGrad(dy64, w64, height: n, width: n, stride: s, padding: p),
                     conv2dWeightGrad(x64, dy64, kernel: k, stride: s, padding: p))
        for path in ConvolutionPath.allCases {
            let forward = relativeError(conv2d(x, w, stride: s, padding: p, path: path), truth.0)
            let input = relativeError(conv2dInputGrad(dy, w, height: n, width: n, stride: s, padding: p, path: path), truth.1)
            let weight = relativeError(conv2dWeightGrad(x, dy, kernel: k, stride: s, padding: p, path: path), truth.2)
            print("conv \(path) \(tag): relative error forward \(forward), input grad \(input), weight grad \(weight)")
            // Winograd's tile transforms round more than a direct sum (measured here: oneDNN's F(4×4)
            // ≤ 2e-6, ours ≤ 7e-6 — Lavin's matrices, no rescaling —, direct 4e-7).
            let tolerance = [.fastest, .winograd].contains(path) ? 3e-5 : path == .onednn ? 5e-6 : 2e-6
            #expect(forward < tolerance && input < tolerance && weight < tolerance, "\(path) \(tag)")
        }
    }

    /// Our direct kernels for the image layer (forward and weight gradient) against the Float64
    /// im2col reference: ResNet-18's and SmallCNN's image layers at small batch, a partial block of
    /// output channels (5, 10), rows that end in a partial vector (13, 20, 9, 1 columns), 1 and 4
    /// channels; and the same bits on 1–4 threads.
    @Test(arguments: [(2, 3, 64, 32, 32), (3, 3, 32, 16, 16), (2, 3, 5, 7, 13), (2, 1, 8, 9, 9), (1, 4, 10, 5, 20),
                      (2, 3, 16, 1, 1)])
    func imageLayerKernelsMatchReference(b: Int, c: Int, o: Int, h: Int, w: Int) {
        guard ImageConvolution.isSupported else { print("skipped: no AVX2+FMA"); return }
        var rng = RandomStream(seed: UInt64(b * 131 + c * 17 + o * 5 + h + w))
        let x64 = Tensor.uniform([b, c, h, w], low: -1, high: 1, dtype: .float64, rng: &rng)
        let w64 = Tensor.uniform([o, c, 3, 3], low: -0.5, high: 0.5, dtype: .float64, rng: &rng)
        let dy64 = Tensor.uniform([b, o, h, w], low: -1, high: 1, dtype: .float64, rng: &rng)
        let (x, wt, dy) = (x64.converted(to: .float32), w64.converted(to: .float32), dy64.converted(to: .float32))
        func run() -> (Tensor, Tensor) {
            let y = Tensor(zeros: [b, o, h, w], dtype: .float32), dw = Tensor(zeros: [o, c, 3, 3], dtype: .float32)
            ImageConvolution.forward(x: x.pointer(Float.self), w: wt.pointer(Float.self), y: y.mutablePointer(Float.self),
                                     batch: b, channels: c, outChannels: o, height: h, width: w)
            ImageConvolution.weightGrad(x: x.pointer(Float.self), dy: dy.pointer(Float.self), dw: dw.mutablePointer(Float.self),
                                        batch: b, channels: c, outChannels: o, height: h, width: w)
            return (y, dw)
        }
        let (y, dw) = run()
        let forward = relativeError(y, conv2d(x64, w64, stride: 1, padding: 1))
        let weight = relativeError(dw, conv2dWeightGrad(x64, dy64, kernel: 3, stride: 1, padding: 1))
        print("image layer b\(b) c\(c) o\(o) \(h)×\(w): relative error forward \(forward), weight grad \(weight)")
        #expect(forward < 2e-6 && weight < 2e-6, "b\(b) c\(c) o\(o) \(h)×\(w): \(forward), \(weight)")
        for threads in [2, 3, 4] {
            let (yt, dwt) = KernelThreads.$count.withValue(threads) { run() }
            #expect(yt.doubles == y.doubles && dwt.doubles == dw.doubles, "\(threads) threads")
        }
    }

    @Test func automaticPath() {
        #expect(ConvolutionPath.automatic(for: .float64) == .im2col)
        guard ProcessInfo.processInfo.environment["ATTRGUARD_CONV"] == nil else { return }
        #expect(ConvolutionPath.automatic(for: .float32) == .fastest)
        // A bound preference wins for Float32, and never for Float64.
        ConvolutionPath.$preferred.withValue(.winograd) {
            #expect(ConvolutionPath.automatic(for: .float32) == .winograd)
            #expect(ConvolutionPath.automatic(for: .float64) == .im2col)
        }
    }

    /// The fastest path's choice per kernel, deterministic for an ISA and shape: an image layer's
    /// input gradient on per-image im2col, its forward map and weight gradient on our direct
    /// kernels (AVX2 + FMA); with OpenBLAS on AVX2 or
    /// AVX-512 kernels, a 3×3 stride-2 layer's weight gradient on our stride-2 Winograd (F(4×4) onto
    /// outputs of 8×8 and up, F(2×2) below), and its other two kernels too where the output is 8×8
    /// and up or the ISA AVX2; the rest of the strided layers (4×4 outputs' forward and input
    /// gradient under AVX-512, the 1×1 shortcuts) on grouped GEMMs where the ISA is AVX2 (with
    /// OpenBLAS's AVX2 kernels), on oneDNN under AVX-512.
    @Test func fastestChoicePerKernel() {
        let image = ConvGeometry(channels: 3, height: 32, width: 32, kernel: 3, stride: 1, padding: 1)
        let strided = ConvGeometry(channels: 64, height: 32, width: 32, kernel: 3, stride: 2, padding: 1)
        let shortcut = ConvGeometry(channels: 64, height: 32, width: 32, kernel: 1, stride: 2, padding: 0)
        func choice(_ k: ConvolutionKernel, _ g: ConvGeometry) -> ConvolutionImplementation {
            k.implementation(.fastest, g, batch: 32, outChannels: 128)
        }
        #expect(choice(.inputGradient, image) == .im2col)
        #expect(choice(.forward, image) == (ImageConvolution.isSupported ? .imageDirect : .oneDNN(.onednn)))
        #expect(choice(.weightGradient, image) == (ImageConvolution.isSupported ? .imageDirect : .oneDNN(.onednn)))
        let small = ConvGeometry(channels: 256, height: 8, width: 8, kernel: 3, stride: 2, padding: 1)
        let stridedOnGEMM = CPUISA.current == .avx2 && KernelISA.openBLASVectorWidth >= 256
        let other: ConvolutionImplementation = stridedOnGEMM ? .gemm : .oneDNN(.onednn)
        let onOurs = Winograd.isSupported && KernelISA.openBLASVectorWidth >= 256
        for k in ConvolutionKernel.allCases {
            #expect(choice(k, strided) == (onOurs ? .winograd(tile: 4, stride: 2) : other), "\(k) \(strided)")
            let smallOnOurs = onOurs && (k == .weightGradient || CPUISA.current == .avx2)
            #expect(choice(k, small) == (smallOnOurs ? .winograd(tile: 2, stride: 2) : other), "\(k) \(small)")
            #expect(choice(k, shortcut) == other, "\(k) \(shortcut)")
            #expect(choice(k, strided) == choice(k, strided), "deterministic")
        }
        // Explicit paths are never rerouted.
        #expect(ConvolutionKernel.inputGradient.implementation(.direct, image, batch: 32, outChannels: 64) == .oneDNN(.direct))
        #expect(ConvolutionKernel.forward.implementation(.gemm, image, batch: 32, outChannels: 64) == .gemm)
    }

    /// Winograd runs where the rule says (when this CPU has oneDNN's AVX-512 Winograd at all), and
    /// never on the direct path, the image layer, stride 2 or 4×4 maps.
    @Test func winogradWhereFaster() {
        func kernels(_ c: Int, _ n: Int, stride: Int = 1, path: ConvolutionPath = .onednn) -> [Bool] {
            let g = ConvGeometry(channels: c, height: n, width: n, kernel: 3, stride: stride, padding: 1)
            return oneDNNConvolutionImplementations(g, batch: 2, outChannels: 64, path: path)
                .split(separator: "/").map { $0.contains("wino") }
        }
        #expect(kernels(64, 16, path: .direct) == [false, false, false])
        #expect(kernels(3, 32) == [false, false, false])
        #expect(kernels(64, 32, stride: 2) == [false, false, false])
        #expect(kernels(64, 4) == [false, false, false])
        let direct = oneDNNConvolutionImplementations(ConvGeometry(channels: 64, height: 16, width: 16, kernel: 3, stride: 1, padding: 1),
                                                      batch: 2, outChannels: 64, path: .direct)
        guard direct.contains("avx512_core") else { return }
        #expect(kernels(64, 16) == [true, true, true])
        #expect(kernels(64, 8) == [true, true, false])
    }

    /// d/dw ‖∂L/∂x‖² of a two-conv net with 16 channels (oneDNN's kernels in Float32, the im2col
    /// reference in Float64): double backprop through all three kernels and their adjoints, on
    /// direct kernels (6×6 input, first conv stride 2) and on Winograd's (16×16, stride 1).
    @Test(arguments: [(6, 2), (16, 1)])
    func secondOrderThroughOneDNN(size: Int, stride: Int) throws {
        var rng = RandomStream(seed: 21)
        let x64 = Tensor.uniform([2, 16, size, size], low: -1, high: 1, dtype: .float64, rng: &rng)
        let w1 = Tensor.uniform([16, 16, 3, 3], low: -0.2, high: 0.2, dtype: .float64, rng: &rng)
        let w2 = Tensor.uniform([16, 16, 3, 3], low: -0.2, high: 0.2, dtype: .float64, rng: &rng)
        func penaltyGradient(_ dtype: DType) throws -> [Tensor] {
            let x = Variable(x64.converted(to: dtype), requiresGrad: true)
            let a = Variable(w1.converted(to: dtype), requiresGrad: true), b = Variable(w2.converted(to: dtype), requiresGrad: true)
            let h = conv2d(x, a, stride: stride, padding: 1).softplus(beta: 3)
            let loss = (conv2d(h, b, stride: 1, padding: 1) * conv2d(h, b, stride: 1, padding: 1)).sum(toShape: [])
            let gx = try grad(of: loss, wrt: [x], createGraph: true)[0]
            return try grad(of: (gx * gx).sum(toShape: []), wrt: [a, b]).map(\.value)
        }
        let single = try penaltyGradient(.float32), double = try penaltyGradient(.float64)
        for (i, (g32, g64)) in zip(single, double).enumerated() {
            let e = relativeError(g32, g64)
            print("second order through oneDNN, \(size)² stride \(stride), weight \(i): relative error \(e)")
            #expect(e < 1e-4)
        }
    }
}
