/// Pooling kernels over [B,C,H,W]. Max pooling is split into a non-differentiable argmax
/// (flat indices into x) and a `gather`, whose adjoint is `scatterAdd`: the pair closes under
/// differentiation. Average pooling and its adjoint likewise form a pair.

/// A square pooling window: kernel, stride (default: the kernel) and zero padding.
public struct PoolGeometry: Sendable, Equatable, CustomStringConvertible {
    public let kernel, stride, padding: Int
    public init(kernel: Int, stride: Int? = nil, padding: Int = 0) {
        self.kernel = kernel; self.stride = stride ?? kernel; self.padding = padding
    }
    /// Output length along an axis of length `n`.
    public func outSize(_ n: Int) -> Int { (n + 2 * padding - kernel) / stride + 1 }
    public var description: String { "k=\(kernel) s=\(stride) p=\(padding)" }
}

private func checkPool(_ op: String, _ shape: [Int], _ g: PoolGeometry) {
    require(shape.count == 4, "\(op): needs [B,C,H,W], got \(Shape.describe(shape))")
    require(g.kernel >= 1 && g.stride >= 1 && g.padding >= 0 && 2 * g.padding <= g.kernel,
                 "\(op): invalid window \(g) (padding must be at most half the kernel)")
    require(shape[2] + 2 * g.padding >= g.kernel && shape[3] + 2 * g.padding >= g.kernel,
                 "\(op): window \(g) larger than input \(Shape.describe(shape))")
}

/// Flat index into x of each window's maximum; windows read only real (unpadded) pixels.
/// Returns indices for the output shape [B,C,P,Q].
public func maxPoolIndices(_ x: Tensor, _ g: PoolGeometry) -> (indices: [Int], shape: [Int]) {
    checkPool("maxpool2d", x.shape, g)
    switch x.dtype {
    case .float32: return maxPoolIndicesKernel(x, g, Float.self)
    case .float64: return maxPoolIndicesKernel(x, g, Double.self)
    }
}

/// Whether `value`, met later in scan order, replaces the window's maximum so far: the first
/// maximum wins and a NaN wins the window (PyTorch's rule). Used as a select, not a branch: on
/// real activations the comparison is a coin flip.
@inline(__always) private func replacesMaximum<T: Scalar>(_ value: T, _ best: T) -> Bool {
    value > best || (value != value && best == best)
}

private func maxPoolIndicesKernel<T: Scalar>(_ x: Tensor, _ g: PoolGeometry, _: T.Type) -> (indices: [Int], shape: [Int]) {
    let v = x.pointer(T.self)
    let (B, C, H, W) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let P = g.outSize(H), Q = g.outSize(W)
    if g.kernel == 2 && g.stride == 2 && g.padding == 0 && H % 2 == 0 && W % 2 == 0 {
        return (maxPool2x2Indices(v, planes: B * C, height: H, width: W), [B, C, P, Q])
    }
    var idx = [Int](repeating: 0, count: B * C * P * Q)
    idx.withUnsafeMutableBufferPointer { out in
        var o = 0
        for plane in 0..<(B * C) {
            let base = plane * H * W
            for i in 0..<P {
                let h0 = Swift.max(0, i * g.stride - g.padding), h1 = Swift.min(H, i * g.stride - g.padding + g.kernel)
                for j in 0..<Q {
                    let w0 = Swift.max(0, j * g.stride - g.padding), w1 = Swift.min(W, j * g.stride - g.padding + g.kernel)
                    var best = base + h0 * W + w0
                    var bestValue = v[best]
                    for h in h0..<h1 {
                        for w in w0..<w1 {
                            let t = base + h * W + w
                            let take = replacesMaximum(v[t], bestValue)
                            best = take ? t : best
                            bestValue = take ? v[t] : bestValue
                        }
                    }
                    out[o] = best
                    o += 1
                }
            }
        }
    }
    return (idx, [B, C, P, Q])
}

/// The 2×2, stride-2 windows of even-sized planes (the common case), without per-window bounds.
private func maxPool2x2Indices<T: Scalar>(_ v: UnsafePointer<T>, planes: Int, height H: Int, width W: Int) -> [Int] {
    let P = H / 2, Q = W / 2
    return [Int](unsafeUninitializedCapacity: planes * P * Q) { out, count in
        for plane in 0..<planes {
            for i in 0..<P {
                let row = plane * H * W + 2 * i * W, o = (plane * P + i) * Q
                for j in 0..<Q {
                    // Scan order (0,0) (0,1) (1,0) (1,1).
                    var best = row + 2 * j, bestValue = v[best]
                    @inline(__always) func consider(_ t: Int) {
                        let take = replacesMaximum(v[t], bestValue)
                        best = take ? t : best
                        bestValue = take ? v[t] : bestValue
                    }
                    consider(row + 2 * j + 1); consider(row + W + 2 * j); consider(row + W + 2 * j + 1)
                    out[o + j] = best
                }
            }
        }
        count = planes * P * Q
    }
}

/// out[i] = x.flat[indices[i]], shaped `shape`.
public func gather(_ x: Tensor, indices: [Int], shape: [Int]) -> Tensor {
    require(indices.count == Shape.count(shape), "gather: \(indices.count) indices for shape \(Shape.describe(shape))")
    let out = Tensor(uninitialized: shape, dtype: x.dtype)
    switch x.dtype {
    case .float32: let a = x.pointer(Float.self), o = out.mutablePointer(Float.self); for i in indices.indices { o[i] = a[indices[i]] }
    case .float64: let a = x.pointer(Double.self), o = out.mutablePointer(Double.self); for i in indices.indices { o[i] = a[indices[i]] }
    }
    return out
}

/// out.flat[indices[i]] += g[i], out shaped `shape` (zeros elsewhere). Adjoint of `gather`.
public func scatterAdd(_ g: Tensor, indices: [Int], shape: [Int]) -> Tensor {
    require(indices.count == g.count, "scatterAdd: \(indices.count) indices for \(Shape.describe(g.shape))")
    let out = Tensor(zeros: shape, dtype: g.dtype)
    switch g.dtype {
    case .float32: let a = g.pointer(Float.self), o = out.mutablePointer(Float.self); for i in indices.indices { o[indices[i]] += a[i] }
    case .float64: let a = g.pointer(Double.self), o = out.mutablePointer(Double.self); for i in indices.indices { o[indices[i]] += a[i] }
    }
    return out
}

/// Average pooling [B,C,H,W] -> [B,C,P,Q]; zero padding counts in the divisor (PyTorch's default).
public func avgPool2d(_ x: Tensor, _ g: PoolGeometry) -> Tensor {
    checkPool("avgpool2d", x.shape, g)
    switch x.dtype {
    case .float32: return avgPoolKernel(x, g, adjointOf: nil, Float.self)
    case .float64: return avgPoolKernel(x, g, adjointOf: nil, Double.self)
    }
}

/// Adjoint of `avgPool2d`: spreads dy[B,C,P,Q] evenly back over each window of an input `inputShape`.
public func avgPool2dAdjoint(_ dy: Tensor, _ g: PoolGeometry, inputShape: [Int]) -> Tensor {
    checkPool("avgpool2d adjoint", inputShape, g)
    require(dy.rank == 4 && dy.shape[2] == g.outSize(inputShape[2]) && dy.shape[3] == g.outSize(inputShape[3]),
                 "avgpool2d adjoint: grad \(Shape.describe(dy.shape)) does not fit input \(Shape.describe(inputShape)), \(g)")
    switch dy.dtype {
    case .float32: return avgPoolKernel(dy, g, adjointOf: inputShape, Float.self)
    case .float64: return avgPoolKernel(dy, g, adjointOf: inputShape, Double.self)
    }
}

/// Forward when `adjointOf` is nil (src is x), else the adjoint (src is dy, result has `adjointOf`'s shape).
private func avgPoolKernel<T: Scalar>(_ src: Tensor, _ g: PoolGeometry, adjointOf inputShape: [Int]?, _: T.Type) -> Tensor {
    let xShape = inputShape ?? src.shape
    let (B, C, H, W) = (xShape[0], xShape[1], xShape[2], xShape[3])
    let P = g.outSize(H), Q = g.outSize(W)
    let out = inputShape == nil ? Tensor(uninitialized: [B, C, P, Q], dtype: src.dtype) : Tensor(zeros: xShape, dtype: src.dtype)
    let s = src.pointer(T.self), o = out.mutablePointer(T.self)
    let scale = 1 / T(g.kernel * g.kernel)
    for plane in 0..<(B * C) {
        let xb = plane * H * W, yb = plane * P * Q
        for i in 0..<P {
            for j in 0..<Q {
                let h0 = Swift.max(0, i * g.stride - g.padding), h1 = Swift.min(H, i * g.stride - g.padding + g.kernel)
                let w0 = Swift.max(0, j * g.stride - g.padding), w1 = Swift.min(W, j * g.stride - g.padding + g.kernel)
                if inputShape == nil {
                    var acc: T = 0
                    for h in h0..<h1 { for w in w0..<w1 { acc += s[xb + h * W + w] } }
                    o[yb + i * Q + j] = acc * scale
                } else {
                    let v = s[yb + i * Q + j] * scale
                    for h in h0..<h1 { for w in w0..<w1 { o[xb + h * W + w] += v } }
                }
            }
        }
    }
    return out
}
