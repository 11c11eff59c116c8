/// Reductions. `sum(_:toShape:)` is the adjoint of `broadcast(_:to:)`: it sums over every
/// axis where the target has size 1 (or is missing), so broadcasting binary ops differentiate
/// with one rule.

/// Sums `x` down to `shape` (keep-dims: every axis of size 1 or missing there is summed).
public func sum(_ x: Tensor, toShape shape: [Int]) -> Tensor {
    guard Shape.broadcast(shape, x.shape) == x.shape else {
        fatalError("sum(toShape:): \(Shape.describe(x.shape)) does not reduce to \(Shape.describe(shape))")
    }
    if x.shape == shape { return x }
    switch x.dtype {
    case .float32: return sumKernel(x, shape, Float.self)
    case .float64: return sumKernel(x, shape, Double.self)
    }
}

private func sumKernel<T: Scalar>(_ x: Tensor, _ shape: [Int], _: T.Type) -> Tensor {
    let out = Tensor(zeros: shape, dtype: x.dtype)
    let a = x.pointer(T.self), o = out.mutablePointer(T.self)
    let loop = StridedLoop(shape: x.shape, strides: [Shape.strides(x.shape), Shape.broadcastStrides(shape, in: x.shape)])
    let n = loop.innerCount, so = loop.innerStride(1)
    loop.forEachRun { oa, oo, _ in
        if so == 0 {
            var acc: T = 0
            for i in 0..<n { acc += a[oa + i] }
            o[oo] += acc
        } else {
            for i in 0..<n { o[oo + i * so] += a[oa + i] }
        }
    }
    return out
}

/// The shape `x.shape` with `axes` set to 1 (keep-dims reduction target).
public func reducedShape(_ shape: [Int], axes: [Int]) -> [Int] {
    var s = shape
    for a in axes {
        require(a >= 0 && a < shape.count, "reduce: axis \(a) out of range for \(Shape.describe(shape))")
        s[a] = 1
    }
    return s
}

/// log Σ exp over the last axis, stable: [.., C] -> [.., 1].
public func logSumExpLastAxis(_ x: Tensor) -> Tensor {
    require(x.rank >= 1, "logSumExp: needs at least one axis, got a scalar")
    switch x.dtype {
    case .float32: return logSumExpKernel(x, Float.self)
    case .float64: return logSumExpKernel(x, Double.self)
    }
}

private func logSumExpKernel<T: Scalar>(_ x: Tensor, _: T.Type) -> Tensor {
    let c = x.shape[x.rank - 1], rows = x.count / max(c, 1)
    var outShape = x.shape
    outShape[x.rank - 1] = 1
    let out = Tensor(uninitialized: outShape, dtype: x.dtype)
    let a = x.pointer(T.self), o = out.mutablePointer(T.self)
    for r in 0..<rows {
        let row = a + r * c
        var m = row[0]
        for j in 1..<c where row[j] > m { m = row[j] }
        var s: T = 0
        for j in 0..<c { s += T.exp(row[j] - m) }
        o[r] = m + T.log(s)
    }
    return out
}

/// Index of the largest element of each row of a [N, C] tensor.
public func argmaxRows(_ x: Tensor) -> [Int] {
    require(x.rank == 2, "argmaxRows: needs [N, C], got \(Shape.describe(x.shape))")
    let v = x.doubles, c = x.shape[1]
    return (0..<x.shape[0]).map { r in
        var best = 0
        for j in 1..<c where v[r * c + j] > v[r * c + best] { best = j }
        return best
    }
}
