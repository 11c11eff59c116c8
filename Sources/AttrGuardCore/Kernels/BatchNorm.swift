/// Training-mode batch normalisation of x [B,C,H,W] over (B,H,W) per channel, fused: each kernel
/// is one or two passes over its tensors, with the channel statistics recomputed from x (a pass
/// over x costs less than keeping x̂ alive). Sums accumulate in Double.
///
/// With N = B·H·W, μ = mean(x), σ² = mean((x−μ)²), r = 1/√(σ²+ε), x̂ = (x−μ)·r, and means per channel:
///   forward            y    = γ·x̂ + β
///   inputGrad          dx   = γ·r·(g − ḡ − x̂·mean(g·x̂))                 = γ·r·P(g)
///   weightGrad         dγ   = Σ g·x̂                                       [C]
///   secondInputGrad    ∂x of Σ u·inputGrad(g, x, γ):
///                      γ·r²·[x̂·(ū·ḡ − mean(g·u) + 3·mean(g·x̂)·mean(u·x̂)) + mean(u·x̂)·(ḡ − g) + mean(g·x̂)·(ū − u)]
///   secondGammaGrad    ∂γ of the same: r·N·(mean(u·g) − ū·ḡ − mean(u·x̂)·mean(g·x̂))   [C]
/// P is symmetric, so ∂g of Σ u·inputGrad(g, x, γ) is inputGrad(u, x, γ) (see Autograd/BatchNormOps.swift).

/// [B,C,H,W] as channel planes.
private struct ChannelLayout {
    let batch, channels, plane: Int
    init(_ shape: [Int]) {
        require(shape.count == 4, "batchnorm2d: needs [B,C,H,W], got \(Shape.describe(shape))")
        batch = shape[0]; channels = shape[1]; plane = shape[2] * shape[3]
    }
    var count: Double { Double(batch * plane) }
    /// Calls `body(offset)` for the start of each of channel c's B planes.
    @inline(__always) func forEachPlane(_ c: Int, _ body: (Int) -> Void) {
        for b in 0..<batch { body((b * channels + c) * plane) }
    }
}

/// Channel c's mean and 1/√(biased variance + ε), two passes.
@inline(__always)
private func moments<T: Scalar>(_ x: UnsafePointer<T>, _ l: ChannelLayout, _ c: Int, eps: Double) -> (mean: Double, variance: Double, r: Double) {
    var s = 0.0
    l.forEachPlane(c) { o in for i in 0..<l.plane { s += Double(x[o + i]) } }
    let mean = s / l.count
    var q = 0.0
    l.forEachPlane(c) { o in for i in 0..<l.plane { let d = Double(x[o + i]) - mean; q += d * d } }
    let variance = q / l.count
    return (mean, variance, 1 / (variance + eps).squareRoot())
}

/// Σ a and Σ a·(x − μ) over channel c.
@inline(__always)
private func sums<T: Scalar>(_ a: UnsafePointer<T>, _ x: UnsafePointer<T>, _ mean: Double, _ l: ChannelLayout, _ c: Int) -> (Double, Double) {
    var s = 0.0, sx = 0.0
    l.forEachPlane(c) { o in
        for i in 0..<l.plane { let v = Double(a[o + i]); s += v; sx += v * (Double(x[o + i]) - mean) }
    }
    return (s, sx)
}

/// out = p·a + q·x + k over channel c (the form every elementwise result here takes).
@inline(__always)
private func affineCombination<T: Scalar>(_ out: UnsafeMutablePointer<T>, _ a: UnsafePointer<T>?, _ p: Double, _ x: UnsafePointer<T>,
                                          _ q: Double, _ k: Double, _ l: ChannelLayout, _ c: Int) {
    let (pt, qt, kt) = (T(p), T(q), T(k))
    l.forEachPlane(c) { o in
        if let a { for i in 0..<l.plane { out[o + i] = pt * a[o + i] + qt * x[o + i] + kt } }
        else { for i in 0..<l.plane { out[o + i] = qt * x[o + i] + kt } }
    }
}

private func gammaValue(_ gamma: Tensor?, _ c: Int) -> Double { gamma.map { $0.doubles[c] } ?? 1 }

private func checkSame(_ op: String, _ a: Tensor, _ b: Tensor) {
    require(a.shape == b.shape && a.dtype == b.dtype,
            "\(op): \(Shape.describe(a.shape)) \(a.dtype) and \(Shape.describe(b.shape)) \(b.dtype) differ")
}

private func checkChannels(_ op: String, _ t: Tensor?, _ x: Tensor) {
    guard let t else { return }
    require(t.shape == [x.shape[1]] && t.dtype == x.dtype,
            "\(op): per-channel tensor \(Shape.describe(t.shape)) does not match input \(Shape.describe(x.shape))")
}

/// y = γ·x̂ + β with the batch mean and biased variance [C] (for the running statistics).
public func batchNormForward(_ x: Tensor, gamma: Tensor, beta: Tensor, eps: Double) -> (y: Tensor, mean: Tensor, variance: Tensor) {
    let l = ChannelLayout(x.shape)
    checkChannels("batchnorm2d", gamma, x); checkChannels("batchnorm2d", beta, x)
    func run<T: Scalar>(_: T.Type) -> (Tensor, Tensor, Tensor) {
        let y = Tensor(uninitialized: x.shape, dtype: x.dtype)
        var means = [Double](repeating: 0, count: l.channels), variances = means
        let xp = x.pointer(T.self), yp = y.mutablePointer(T.self), g = gamma.doubles, b = beta.doubles
        for c in 0..<l.channels {
            let m = moments(xp, l, c, eps: eps)
            means[c] = m.mean; variances[c] = m.variance
            let scale = g[c] * m.r
            affineCombination(yp, nil, 0, xp, scale, b[c] - m.mean * scale, l, c)
        }
        return (y, Tensor(shape: [l.channels], values: means, dtype: x.dtype), Tensor(shape: [l.channels], values: variances, dtype: x.dtype))
    }
    return x.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// dx = γ·r·P(g); γ = nil means ones.
public func batchNormInputGrad(_ g: Tensor, _ x: Tensor, gamma: Tensor?, eps: Double) -> Tensor {
    checkSame("batchNormInputGrad", g, x); checkChannels("batchNormInputGrad", gamma, x)
    let l = ChannelLayout(x.shape)
    func run<T: Scalar>(_: T.Type) -> Tensor {
        let out = Tensor(uninitialized: x.shape, dtype: x.dtype)
        let xp = x.pointer(T.self), gp = g.pointer(T.self), op = out.mutablePointer(T.self)
        for c in 0..<l.channels {
            let m = moments(xp, l, c, eps: eps), (sg, sgx) = sums(gp, xp, m.mean, l, c)
            // γr·(g − ḡ − (x−μ)·r²·mean(g·(x−μ)))
            let a = gammaValue(gamma, c) * m.r, q = -a * m.r * m.r * sgx / l.count
            affineCombination(op, gp, a, xp, q, -a * sg / l.count - q * m.mean, l, c)
        }
        return out
    }
    return x.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// dγ[C] = Σ g·x̂.
public func batchNormWeightGrad(_ g: Tensor, _ x: Tensor, eps: Double) -> Tensor {
    checkSame("batchNormWeightGrad", g, x)
    let l = ChannelLayout(x.shape)
    func run<T: Scalar>(_: T.Type) -> Tensor {
        let xp = x.pointer(T.self), gp = g.pointer(T.self)
        let values = (0..<l.channels).map { c in
            let m = moments(xp, l, c, eps: eps)
            return sums(gp, xp, m.mean, l, c).1 * m.r
        }
        return Tensor(shape: [l.channels], values: values, dtype: x.dtype)
    }
    return x.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// Channel c's means of u, g, g·u, g·x̂ and u·x̂ for the second-order kernels.
private func secondOrderMeans<T: Scalar>(_ u: UnsafePointer<T>, _ g: UnsafePointer<T>, _ x: UnsafePointer<T>,
                                         _ l: ChannelLayout, _ c: Int, eps: Double)
    -> (mean: Double, r: Double, u: Double, g: Double, gu: Double, gx: Double, ux: Double) {
    let m = moments(x, l, c, eps: eps)
    var su = 0.0, sg = 0.0, sgu = 0.0, sgx = 0.0, sux = 0.0
    l.forEachPlane(c) { o in
        for i in 0..<l.plane {
            let uv = Double(u[o + i]), gv = Double(g[o + i]), d = Double(x[o + i]) - m.mean
            su += uv; sg += gv; sgu += gv * uv; sgx += gv * d; sux += uv * d
        }
    }
    let n = l.count
    return (m.mean, m.r, su / n, sg / n, sgu / n, sgx * m.r / n, sux * m.r / n)
}

/// ∂x of Σ u·inputGrad(g, x, γ).
public func batchNormSecondInputGrad(_ u: Tensor, _ g: Tensor, _ x: Tensor, gamma: Tensor?, eps: Double) -> Tensor {
    checkSame("batchNormSecondInputGrad", u, x); checkSame("batchNormSecondInputGrad", g, x)
    checkChannels("batchNormSecondInputGrad", gamma, x)
    let l = ChannelLayout(x.shape)
    func run<T: Scalar>(_: T.Type) -> Tensor {
        let out = Tensor(uninitialized: x.shape, dtype: x.dtype)
        let up = u.pointer(T.self), gp = g.pointer(T.self), xp = x.pointer(T.self), op = out.mutablePointer(T.self)
        for c in 0..<l.channels {
            let s = secondOrderMeans(up, gp, xp, l, c, eps: eps)
            let k = gammaValue(gamma, c) * s.r * s.r
            // k·[(x−μ)·r·(ūḡ − mean(gu) + 3·mg·mu) + mu·(ḡ − g) + mg·(ū − u)]
            let kx = k * s.r * (s.u * s.g - s.gu + 3 * s.gx * s.ux), kg = -k * s.ux, ku = -k * s.gx
            let k0 = k * (s.ux * s.g + s.gx * s.u) - kx * s.mean
            let (tx, tg, tu, t0) = (T(kx), T(kg), T(ku), T(k0))
            l.forEachPlane(c) { o in for i in 0..<l.plane { op[o + i] = tx * xp[o + i] + tg * gp[o + i] + tu * up[o + i] + t0 } }
        }
        return out
    }
    return x.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// ∂γ[C] of Σ u·inputGrad(g, x, γ).
public func batchNormSecondGammaGrad(_ u: Tensor, _ g: Tensor, _ x: Tensor, eps: Double) -> Tensor {
    checkSame("batchNormSecondGammaGrad", u, x); checkSame("batchNormSecondGammaGrad", g, x)
    let l = ChannelLayout(x.shape)
    func run<T: Scalar>(_: T.Type) -> Tensor {
        let up = u.pointer(T.self), gp = g.pointer(T.self), xp = x.pointer(T.self)
        let values = (0..<l.channels).map { c in
            let s = secondOrderMeans(up, gp, xp, l, c, eps: eps)
            return s.r * l.count * (s.gu - s.u * s.g - s.ux * s.gx)
        }
        return Tensor(shape: [l.channels], values: values, dtype: x.dtype)
    }
    return x.dtype == .float32 ? run(Float.self) : run(Double.self)
}
