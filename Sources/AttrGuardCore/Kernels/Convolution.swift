import Foundation

/// 2-d cross-correlation (PyTorch's conv2d) and its two adjoints. Square kernels, equal stride
/// and zero padding on both axes. Two implementations of the same three maps: oneDNN's direct
/// convolutions (OneDNNConvolution.swift; Float32) and im2col + gemm here (Float64, and the
/// reference the tests compare oneDNN against).
///
/// The three kernels are each other's transposes, which is what makes the autograd rules
/// close over them (see Autograd/Primitives.swift):
///   forward      y[B,O,P,Q]  = conv(x[B,C,H,W], w[O,C,k,k])
///   inputGrad    dx[B,C,H,W] = convᵀ(dy[B,O,P,Q], w)           (col2im of wᵀ·dy)
///   weightGrad   dw[O,C,k,k] = Σ_b dy[b] · im2col(x[b])ᵀ

/// One convolution's input size, kernel, stride and padding, and the output size they give.
public struct ConvGeometry: Sendable, Equatable, CustomStringConvertible {
    public let channels, height, width, kernel, stride, padding: Int

    public init(channels: Int, height: Int, width: Int, kernel: Int, stride: Int, padding: Int) {
        self.channels = channels; self.height = height; self.width = width
        self.kernel = kernel; self.stride = stride; self.padding = padding
    }

    public var outHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
    public var outWidth: Int { (width + 2 * padding - kernel) / stride + 1 }
    /// Rows of the im2col matrix: C·k·k.
    var patch: Int { channels * kernel * kernel }
    var outPlane: Int { outHeight * outWidth }
    /// The output columns j whose input column j·stride − padding + kj lies inside the image.
    func validColumns(kernelColumn kj: Int) -> Range<Int> {
        let before = padding - kj, last = width - 1 + padding - kj
        let lo = before <= 0 ? 0 : (before + stride - 1) / stride
        let hi = last < 0 ? 0 : Swift.min(outWidth, last / stride + 1)
        return Swift.min(lo, hi)..<hi
    }
    /// 1×1, stride 1, no padding: the image already is its im2col matrix.
    var isPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 }

    public var description: String { "C=\(channels) H=\(height) W=\(width) k=\(kernel) s=\(stride) p=\(padding)" }
}

/// Which kernels run a convolution.
public enum ConvolutionPath: String, Sendable, CaseIterable {
    /// Per kernel and shape, the fastest measured on this CPU's instruction set
    /// (`ConvolutionKernel.implementation`): our Winograd, grouped GEMMs, oneDNN's own Winograd
    /// (AVX-512 only) or oneDNN direct (Float32 only).
    case fastest
    /// Our Winograd F(m×m, 3×3) on every 3×3 stride-1 padding-1 layer, oneDNN direct elsewhere (Float32 only).
    case winograd
    /// oneDNN alone, per kernel and shape the faster of its direct and Winograd convolution (Float32 only).
    case onednn
    /// oneDNN direct convolution only: the kernels PyTorch runs (Float32 only).
    case direct
    /// im2col over groups of images, one OpenBLAS GEMM per group (ConvolutionGEMM.swift; Float32 only).
    case gemm
    /// im2col + BLAS gemm, one image at a time: the reference, and the Float64 path.
    case im2col

    /// What a call without an explicit path uses: the fastest for Float32 unless ATTRGUARD_CONV names
    /// another path (for before/after benchmarks), im2col for Float64 (oneDNN has no f64 convolution).
    public static func automatic(for dtype: DType) -> ConvolutionPath {
        guard dtype == .float32 else { return .im2col }
        return preferred ?? float32Default
    }

    /// While bound, the path every Float32 convolution without an explicit path takes (tests run
    /// whole networks and their gradients through one path this way).
    @TaskLocal public static var preferred: ConvolutionPath?

    private static let float32Default: ConvolutionPath =
        ProcessInfo.processInfo.environment["ATTRGUARD_CONV"].flatMap(ConvolutionPath.init(rawValue:)) ?? .fastest

    fileprivate static func resolve(_ path: ConvolutionPath?, _ dtype: DType, _ op: String) -> ConvolutionPath {
        let p = path ?? automatic(for: dtype)
        require(p == .im2col || dtype == .float32, "\(op): only the im2col path computes \(dtype), got \(p.rawValue)")
        return p
    }
}

/// One image [C,H,W] -> columns [C·k·k, P·Q], rows `rowStride` apart (P·Q, or wider where
/// several images' columns sit side by side: ConvolutionGEMM.swift).
func im2col<T: Scalar>(_ x: UnsafePointer<T>, _ g: ConvGeometry, _ cols: UnsafeMutablePointer<T>, rowStride: Int? = nil) {
    let k = g.kernel, s = g.stride, p = g.padding, H = g.height, W = g.width, P = g.outHeight, Q = g.outWidth
    let ld = rowStride ?? P * Q
    for c in 0..<g.channels {
        let plane = x + c * H * W
        for ki in 0..<k {
            for kj in 0..<k {
                let valid = g.validColumns(kernelColumn: kj)
                let row = cols + ((c * k + ki) * k + kj) * ld
                for i in 0..<P {
                    let h = i * s - p + ki
                    let dst = row + i * Q
                    if h < 0 || h >= H { dst.update(repeating: 0, count: Q); continue }
                    let src = plane + h * W
                    let (lo, hi) = (valid.lowerBound, valid.upperBound)
                    if lo > 0 { dst.update(repeating: 0, count: lo) }
                    if s == 1 {
                        if hi > lo { (dst + lo).update(from: src + (lo - p + kj), count: hi - lo) }
                    } else {
                        // Stride 2 spelled out: a constant stride lets the compiler vectorize the gather.
                        let first = src + (lo * s - p + kj), out = dst + lo, n = hi - lo
                        if s == 2 {
                            for j in 0..<n { out[j] = first[2 * j] }
                        } else {
                            for j in 0..<n { out[j] = first[j * s] }
                        }
                    }
                    if hi < Q { (dst + hi).update(repeating: 0, count: Q - hi) }
                }
            }
        }
    }
}

/// Columns [C·k·k, P·Q] (rows `rowStride` apart) accumulated back into one image [C,H,W] (which
/// must start zeroed).
func col2im<T: Scalar>(_ cols: UnsafePointer<T>, _ g: ConvGeometry, _ x: UnsafeMutablePointer<T>, rowStride: Int? = nil) {
    let k = g.kernel, s = g.stride, p = g.padding, H = g.height, W = g.width, P = g.outHeight, Q = g.outWidth
    let ld = rowStride ?? P * Q
    for c in 0..<g.channels {
        let plane = x + c * H * W
        for ki in 0..<k {
            for kj in 0..<k {
                let valid = g.validColumns(kernelColumn: kj)
                let row = cols + ((c * k + ki) * k + kj) * ld
                for i in 0..<P {
                    let h = i * s - p + ki
                    if h < 0 || h >= H { continue }
                    let src = row + i * Q, dst = plane + h * W
                    let (lo, hi) = (valid.lowerBound, valid.upperBound)
                    let first = dst + (lo * s - p + kj)
                    let from = src + lo, n = hi - lo
                    switch s {
                    case 1: for j in 0..<n { first[j] += from[j] }
                    case 2: for j in 0..<n { first[2 * j] += from[j] }
                    default: for j in 0..<n { first[j * s] += from[j] }
                    }
                }
            }
        }
    }
}

private func checkConv(_ op: String, _ x: [Int], _ w: [Int], _ stride: Int, _ padding: Int) {
    require(x.count == 4 && w.count == 4 && w[2] == w[3],
                 "\(op): needs input [B,C,H,W] and square weight [O,C,k,k], got \(Shape.describe(x)) and \(Shape.describe(w))")
    require(x[1] == w[1], "\(op): input \(Shape.describe(x)) has \(x[1]) channels, weight \(Shape.describe(w)) expects \(w[1])")
    require(stride >= 1 && padding >= 0, "\(op): stride \(stride) must be >= 1 and padding \(padding) >= 0")
    require(x[2] + 2 * padding >= w[2] && x[3] + 2 * padding >= w[3],
                 "\(op): kernel \(w[2]) larger than padded input \(Shape.describe(x)) (padding \(padding))")
}

/// y[B,O,P,Q] = conv(x[B,C,H,W], w[O,C,k,k]).
public func conv2d(_ x: Tensor, _ w: Tensor, stride: Int, padding: Int, path: ConvolutionPath? = nil) -> Tensor {
    checkConv("conv2d", x.shape, w.shape, stride, padding)
    require(x.dtype == w.dtype, "conv2d: dtypes differ (\(x.dtype) vs \(w.dtype))")
    let g = ConvGeometry(channels: x.shape[1], height: x.shape[2], width: x.shape[3],
                         kernel: w.shape[2], stride: stride, padding: padding)
    let p = ConvolutionPath.resolve(path, x.dtype, "conv2d")
    let (B, O) = (x.shape[0], w.shape[0])
    switch ConvolutionKernel.forward.implementation(p, g, batch: B, outChannels: O) {
    case .winograd(let m, let stride):
        let out = Tensor(uninitialized: [B, O, g.outHeight, g.outWidth], dtype: .float32)
        Winograd.conv2d(x: x.pointer(Float.self), w: w.pointer(Float.self), y: out.mutablePointer(Float.self),
                        batch: B, channels: g.channels, outChannels: O, height: g.height, width: g.width, m: m, stride: stride)
        return out
    case .imageDirect:
        let out = Tensor(uninitialized: [B, O, g.outHeight, g.outWidth], dtype: .float32)
        ImageConvolution.forward(x: x.pointer(Float.self), w: w.pointer(Float.self), y: out.mutablePointer(Float.self),
                                 batch: B, channels: g.channels, outChannels: O, height: g.height, width: g.width)
        return out
    case .gemm:
        let out = Tensor(uninitialized: [B, O, g.outHeight, g.outWidth], dtype: .float32)
        ConvolutionGEMM.forward(x: x.pointer(Float.self), w: w.pointer(Float.self), y: out.mutablePointer(Float.self),
                                g, batch: B, outChannels: O)
        return out
    case .oneDNN(let oneDNNPath):
        let out = Tensor(uninitialized: [B, O, g.outHeight, g.outWidth], dtype: .float32)
        OneDNN.forward(x: x.pointer(Float.self), w: w.pointer(Float.self), y: out.mutablePointer(Float.self),
                       g, batch: B, outChannels: O, path: oneDNNPath)
        return out
    case .im2col: break
    }
    switch x.dtype {
    case .float32: return convForward(x, w, g, Float.self)
    case .float64: return convForward(x, w, g, Double.self)
    }
}

private func convForward<T: Scalar>(_ x: Tensor, _ w: Tensor, _ g: ConvGeometry, _: T.Type) -> Tensor {
    let B = x.shape[0], O = w.shape[0]
    let out = Tensor(uninitialized: [B, O, g.outHeight, g.outWidth], dtype: x.dtype)
    let xp = x.pointer(T.self), wp = w.pointer(T.self), op = out.mutablePointer(T.self)
    let cols = g.isPointwise ? nil : UnsafeMutablePointer<T>.allocate(capacity: g.patch * g.outPlane)
    defer { cols?.deallocate() }
    for b in 0..<B {
        let image = xp + b * g.channels * g.height * g.width
        if let cols { im2col(image, g, cols) }
        // [O, Ckk] · [Ckk, PQ] -> [O, PQ]
        T.gemm(transA: false, transB: false, m: O, n: g.outPlane, k: g.patch, alpha: 1, a: wp, lda: g.patch,
               b: cols.map { UnsafePointer($0) } ?? image, ldb: g.outPlane, beta: 0, c: op + b * O * g.outPlane, ldc: g.outPlane)
    }
    return out
}

/// dx[B,C,H,W] = convᵀ(dy[B,O,P,Q], w[O,C,k,k]) for an input of `height`×`width`.
public func conv2dInputGrad(_ dy: Tensor, _ w: Tensor, height: Int, width: Int, stride: Int, padding: Int,
                            path: ConvolutionPath? = nil) -> Tensor {
    require(dy.rank == 4 && w.rank == 4 && dy.shape[1] == w.shape[0],
                 "conv2dInputGrad: output grad \(Shape.describe(dy.shape)) does not match weight \(Shape.describe(w.shape))")
    let g = ConvGeometry(channels: w.shape[1], height: height, width: width, kernel: w.shape[2], stride: stride, padding: padding)
    require(dy.shape[2] == g.outHeight && dy.shape[3] == g.outWidth,
                 "conv2dInputGrad: output grad \(Shape.describe(dy.shape)) does not fit input \(height)×\(width), \(g)")
    require(dy.dtype == w.dtype, "conv2dInputGrad: dtypes differ (\(dy.dtype) vs \(w.dtype))")
    let p = ConvolutionPath.resolve(path, dy.dtype, "conv2dInputGrad")
    let (B, O) = (dy.shape[0], w.shape[0])
    switch ConvolutionKernel.inputGradient.implementation(p, g, batch: B, outChannels: O) {
    case .winograd(let m, let stride):
        let out = Tensor(uninitialized: [B, g.channels, height, width], dtype: .float32)
        Winograd.inputGrad(dy: dy.pointer(Float.self), w: w.pointer(Float.self), dx: out.mutablePointer(Float.self),
                           batch: B, channels: g.channels, outChannels: O, height: height, width: width, m: m,
                           stride: stride)
        return out
    case .gemm:
        let out = Tensor(uninitialized: [B, g.channels, height, width], dtype: .float32)
        ConvolutionGEMM.inputGrad(dy: dy.pointer(Float.self), w: w.pointer(Float.self), dx: out.mutablePointer(Float.self),
                                  g, batch: B, outChannels: O)
        return out
    case .oneDNN(let oneDNNPath):
        let out = Tensor(uninitialized: [B, g.channels, height, width], dtype: .float32)
        OneDNN.inputGrad(dy: dy.pointer(Float.self), w: w.pointer(Float.self), dx: out.mutablePointer(Float.self),
                         g, batch: B, outChannels: O, path: oneDNNPath)
        return out
    // The image layer's input gradient has no direct kernel of ours: it runs on per-image im2col.
    case .im2col, .imageDirect: break
    }
    switch dy.dtype {
    case .float32: return convInputGrad(dy, w, g, Float.self)
    case .float64: return convInputGrad(dy, w, g, Double.self)
    }
}

private func convInputGrad<T: Scalar>(_ dy: Tensor, _ w: Tensor, _ g: ConvGeometry, _: T.Type) -> Tensor {
    let B = dy.shape[0], O = w.shape[0], imageSize = g.channels * g.height * g.width
    let out = Tensor(zeros: [B, g.channels, g.height, g.width], dtype: dy.dtype)
    let gp = dy.pointer(T.self), wp = w.pointer(T.self), op = out.mutablePointer(T.self)
    let cols = g.isPointwise ? nil : UnsafeMutablePointer<T>.allocate(capacity: g.patch * g.outPlane)
    defer { cols?.deallocate() }
    for b in 0..<B {
        // [Ckk, O] · [O, PQ] -> [Ckk, PQ]
        T.gemm(transA: true, transB: false, m: g.patch, n: g.outPlane, k: O, alpha: 1, a: wp, lda: g.patch,
               b: gp + b * O * g.outPlane, ldb: g.outPlane, beta: 0, c: cols ?? (op + b * imageSize), ldc: g.outPlane)
        if let cols { col2im(cols, g, op + b * imageSize) }
    }
    return out
}

/// dw[O,C,k,k] = Σ_b dy[b][O,PQ] · im2col(x[b])ᵀ[PQ,Ckk].
public func conv2dWeightGrad(_ x: Tensor, _ dy: Tensor, kernel: Int, stride: Int, padding: Int,
                             path: ConvolutionPath? = nil) -> Tensor {
    require(x.rank == 4 && dy.rank == 4 && x.shape[0] == dy.shape[0],
                 "conv2dWeightGrad: input \(Shape.describe(x.shape)) and output grad \(Shape.describe(dy.shape)) disagree on batch")
    let g = ConvGeometry(channels: x.shape[1], height: x.shape[2], width: x.shape[3], kernel: kernel, stride: stride, padding: padding)
    require(dy.shape[2] == g.outHeight && dy.shape[3] == g.outWidth,
                 "conv2dWeightGrad: output grad \(Shape.describe(dy.shape)) does not fit input \(Shape.describe(x.shape)), \(g)")
    require(x.dtype == dy.dtype, "conv2dWeightGrad: dtypes differ (\(x.dtype) vs \(dy.dtype))")
    let p = ConvolutionPath.resolve(path, x.dtype, "conv2dWeightGrad")
    let (B, O) = (x.shape[0], dy.shape[1])
    switch ConvolutionKernel.weightGradient.implementation(p, g, batch: B, outChannels: O) {
    case .winograd(let m, let stride):
        let out = Tensor(uninitialized: [O, g.channels, kernel, kernel], dtype: .float32)
        Winograd.weightGrad(x: x.pointer(Float.self), dy: dy.pointer(Float.self), dw: out.mutablePointer(Float.self),
                            batch: B, channels: g.channels, outChannels: O, height: g.height, width: g.width, m: m,
                            stride: stride)
        return out
    case .imageDirect:
        let out = Tensor(uninitialized: [O, g.channels, kernel, kernel], dtype: .float32)
        ImageConvolution.weightGrad(x: x.pointer(Float.self), dy: dy.pointer(Float.self), dw: out.mutablePointer(Float.self),
                                    batch: B, channels: g.channels, outChannels: O, height: g.height, width: g.width)
        return out
    case .gemm:
        let out = Tensor(uninitialized: [O, g.channels, kernel, kernel], dtype: .float32)
        ConvolutionGEMM.weightGrad(x: x.pointer(Float.self), dy: dy.pointer(Float.self), dw: out.mutablePointer(Float.self),
                                   g, batch: B, outChannels: O)
        return out
    case .oneDNN(let oneDNNPath):
        let out = Tensor(uninitialized: [O, g.channels, kernel, kernel], dtype: .float32)
        OneDNN.weightGrad(x: x.pointer(Float.self), dy: dy.pointer(Float.self), dw: out.mutablePointer(Float.self),
                          g, batch: B, outChannels: O, path: oneDNNPath)
        return out
    case .im2col: break
    }
    switch x.dtype {
    case .float32: return convWeightGrad(x, dy, g, Float.self)
    case .float64: return convWeightGrad(x, dy, g, Double.self)
    }
}

private func convWeightGrad<T: Scalar>(_ x: Tensor, _ dy: Tensor, _ g: ConvGeometry, _: T.Type) -> Tensor {
    let B = x.shape[0], O = dy.shape[1], imageSize = g.channels * g.height * g.width
    let out = Tensor(zeros: [O, g.channels, g.kernel, g.kernel], dtype: x.dtype)
    let xp = x.pointer(T.self), gp = dy.pointer(T.self), op = out.mutablePointer(T.self)
    let cols = g.isPointwise ? nil : UnsafeMutablePointer<T>.allocate(capacity: g.patch * g.outPlane)
    defer { cols?.deallocate() }
    for b in 0..<B {
        if let cols { im2col(xp + b * imageSize, g, cols) }
        // [O, PQ] · [PQ, Ckk] accumulated into [O, Ckk]
        T.gemm(transA: false, transB: true, m: O, n: g.patch, k: g.outPlane, alpha: 1, a: gp + b * O * g.outPlane,
               lda: g.outPlane, b: cols.map { UnsafePointer($0) } ?? (xp + b * imageSize), ldb: g.outPlane,
               beta: 1, c: op, ldc: g.patch)
    }
    return out
}

/// The implementations oneDNN runs for a Float32 convolution's forward / backward-data /
/// backward-weights kernels on `path` (.onednn or .direct) on this CPU.
public func oneDNNConvolutionImplementations(_ g: ConvGeometry, batch: Int, outChannels: Int,
                                             path: ConvolutionPath = .onednn) -> String {
    OneDNN.implementations(g, batch: batch, outChannels: outChannels, path: path)
}

/// What runs a Float32 convolution's forward / input-gradient / weight-gradient kernels on `path`
/// on this CPU, e.g. "winograd_4x3:avx2 / winograd_4x3:avx2 / jit:avx2" (oneDNN's implementation
/// string where oneDNN runs the kernel).
public func convolutionImplementations(_ g: ConvGeometry, batch: Int, outChannels: Int, path: ConvolutionPath) -> String {
    let kernels: [(ConvolutionKernel, OneDNN.Kernel)] = [(.forward, .forward), (.inputGradient, .backwardData),
                                                          (.weightGradient, .backwardWeights)]
    return kernels.map { kernel, oneDNNKernel in
        switch kernel.implementation(path, g, batch: batch, outChannels: outChannels) {
        case .oneDNN(let p): return OneDNN.implementation(oneDNNKernel, g, batch: batch, outChannels: outChannels, path: p)
        case let other: return other.description
        }
    }.joined(separator: " / ")
}
