/// Elementwise kernels: one switch on the operation outside each loop, plain loops inside.

/// Unary maps. Parameters ride in the case so that no closure sits in a hot loop.
public enum UnaryOp: Sendable {
    case neg, exp, log, sqrt, abs, sign, relu, sigmoid
    /// log(1 + exp(beta·x)) / beta, and x itself where beta·x > 20 (PyTorch's threshold).
    case softplus(beta: Double)
    /// The derivative of `softplus`: sigmoid(beta·x), exactly 1 where beta·x > 20.
    case softplusSlope(beta: Double)
    /// 1 where x > threshold, else 0 (a constant mask for ReLU, clamp and max-style backward rules).
    case greaterMask(threshold: Double)
    case clampMin(Double)
    /// x · scale + shift.
    case affine(scale: Double, shift: Double)
    /// 1 / x
    case reciprocal
}

/// Above this beta·x, softplus is the identity (as in PyTorch, so references match to 1e-8).
private let softplusThreshold = 20.0

/// Elementwise binary maps (broadcasting).
public enum BinaryOp: Sendable { case add, sub, mul, div }

/// σ(v) without overflow: e = exp(−|v|); 1/(1+e) for v ≥ 0, e/(1+e) otherwise. Branch-free, so
/// the loops around it vectorise.
@inline(__always) private func sigmoid<T: Scalar>(_ v: T) -> T {
    let e = T.loopExp(-Swift.abs(v))
    return (v >= 0 ? 1 : e) / (1 + e)
}

/// `op` applied to every element, a new tensor of x's shape.
public func unary(_ op: UnaryOp, _ x: Tensor) -> Tensor {
    switch x.dtype {
    case .float32: return unaryKernel(op, x, Float.self)
    case .float64: return unaryKernel(op, x, Double.self)
    }
}

private func unaryKernel<T: Scalar>(_ op: UnaryOp, _ x: Tensor, _: T.Type) -> Tensor {
    let out = Tensor(uninitialized: x.shape, dtype: x.dtype)
    let a = x.pointer(T.self), o = out.mutablePointer(T.self)
    forEachPiece(x.count, grain: elementwiseGrain) { r in
    switch op {
    case .neg: for i in r { o[i] = -a[i] }
    case .exp: for i in r { o[i] = T.loopExp(a[i]) }
    case .log: for i in r { o[i] = T.log(a[i]) }
    case .sqrt: for i in r { o[i] = a[i].squareRoot() }
    case .abs: for i in r { o[i] = Swift.abs(a[i]) }
    case .sign: for i in r { o[i] = a[i] > 0 ? 1 : (a[i] < 0 ? -1 : 0) }
    case .relu: for i in r { o[i] = a[i] > 0 ? a[i] : 0 }
    case .sigmoid: for i in r { o[i] = sigmoid(a[i]) }
    case .softplus(let b):
        let beta = T(b), invBeta = 1 / T(b)
        // log(1 + e^z) = max(z, 0) + log1p(e^−|z|): no overflow, and branch-free so it vectorises.
        for i in r {
            let z = beta * a[i]
            let soft = (Swift.max(z, 0) + T.loopLog1p(T.loopExp(-Swift.abs(z)))) * invBeta
            o[i] = z > T(softplusThreshold) ? a[i] : soft
        }
    case .softplusSlope(let b):
        let beta = T(b)
        for i in r {
            let z = beta * a[i]
            o[i] = z > T(softplusThreshold) ? 1 : sigmoid(z)
        }
    case .greaterMask(let t):
        let th = T(t)
        for i in r { o[i] = a[i] > th ? 1 : 0 }
    case .clampMin(let c):
        let lo = T(c)
        for i in r { o[i] = a[i] > lo ? a[i] : lo }
    case .affine(let s, let t):
        let scale = T(s), shift = T(t)
        for i in r { o[i] = a[i] * scale + shift }
    case .reciprocal: for i in r { o[i] = 1 / a[i] }
    }
    }
    return out
}

/// Binary op with NumPy broadcasting. Traps with the op and both shapes when they do not broadcast.
public func binary(_ op: BinaryOp, _ x: Tensor, _ y: Tensor) -> Tensor {
    require(x.dtype == y.dtype, "\(op): dtypes differ (\(x.dtype) vs \(y.dtype))")
    guard let shape = Shape.broadcast(x.shape, y.shape) else {
        fatalError("\(op): shapes \(Shape.describe(x.shape)) and \(Shape.describe(y.shape)) do not broadcast")
    }
    switch x.dtype {
    case .float32: return binaryKernel(op, x, y, shape, Float.self)
    case .float64: return binaryKernel(op, x, y, shape, Double.self)
    }
}

@inline(__always)
private func binaryRun<T: Scalar>(_ op: BinaryOp, _ a: UnsafePointer<T>, _ sa: Int, _ b: UnsafePointer<T>, _ sb: Int,
                                  _ o: UnsafeMutablePointer<T>, _ n: Int) {
    switch (op, sa, sb) {
    case (.add, 1, 1): for i in 0..<n { o[i] = a[i] + b[i] }
    case (.sub, 1, 1): for i in 0..<n { o[i] = a[i] - b[i] }
    case (.mul, 1, 1): for i in 0..<n { o[i] = a[i] * b[i] }
    case (.div, 1, 1): for i in 0..<n { o[i] = a[i] / b[i] }
    case (.add, 1, 0): let v = b[0]; for i in 0..<n { o[i] = a[i] + v }
    case (.sub, 1, 0): let v = b[0]; for i in 0..<n { o[i] = a[i] - v }
    case (.mul, 1, 0): let v = b[0]; for i in 0..<n { o[i] = a[i] * v }
    case (.div, 1, 0): let v = 1 / b[0]; for i in 0..<n { o[i] = a[i] * v }
    case (.add, 0, 1): let v = a[0]; for i in 0..<n { o[i] = v + b[i] }
    case (.sub, 0, 1): let v = a[0]; for i in 0..<n { o[i] = v - b[i] }
    case (.mul, 0, 1): let v = a[0]; for i in 0..<n { o[i] = v * b[i] }
    case (.div, 0, 1): let v = a[0]; for i in 0..<n { o[i] = v / b[i] }
    default:
        for i in 0..<n {
            let u = a[i * sa], v = b[i * sb]
            switch op {
            case .add: o[i] = u + v
            case .sub: o[i] = u - v
            case .mul: o[i] = u * v
            case .div: o[i] = u / v
            }
        }
    }
}

private func binaryKernel<T: Scalar>(_ op: BinaryOp, _ x: Tensor, _ y: Tensor, _ shape: [Int], _: T.Type) -> Tensor {
    let out = Tensor(uninitialized: shape, dtype: x.dtype)
    let a = x.pointer(T.self), b = y.pointer(T.self), o = out.mutablePointer(T.self)
    if x.shape == y.shape {
        forEachPiece(out.count, grain: elementwiseGrain) { r in
            binaryRun(op, a + r.lowerBound, 1, b + r.lowerBound, 1, o + r.lowerBound, r.count)
        }
        return out
    }
    let loop = StridedLoop(shape: shape, strides: [Shape.broadcastStrides(x.shape, in: shape),
                                                   Shape.broadcastStrides(y.shape, in: shape),
                                                   Shape.strides(shape)])
    let n = loop.innerCount, sa = loop.innerStride(0), sb = loop.innerStride(1)
    loop.forEachRun { oa, ob, oo in binaryRun(op, a + oa, sa, b + ob, sb, o + oo, n) }
    return out
}

/// Copies `x` into the larger shape it broadcasts to.
public func broadcast(_ x: Tensor, to shape: [Int]) -> Tensor {
    guard Shape.broadcast(x.shape, shape) == shape else {
        fatalError("broadcast: \(Shape.describe(x.shape)) cannot broadcast to \(Shape.describe(shape))")
    }
    if x.shape == shape { return x }
    switch x.dtype {
    case .float32: return broadcastKernel(x, shape, Float.self)
    case .float64: return broadcastKernel(x, shape, Double.self)
    }
}

private func broadcastKernel<T: Scalar>(_ x: Tensor, _ shape: [Int], _: T.Type) -> Tensor {
    let out = Tensor(uninitialized: shape, dtype: x.dtype)
    let a = x.pointer(T.self), o = out.mutablePointer(T.self)
    let loop = StridedLoop(shape: shape, strides: [Shape.broadcastStrides(x.shape, in: shape), Shape.strides(shape)])
    let n = loop.innerCount, sa = loop.innerStride(0)
    loop.forEachRun { oa, oo, _ in
        if sa == 0 { (o + oo).update(repeating: a[oa], count: n) } else { for i in 0..<n { o[oo + i] = a[oa + i * sa] } }
    }
    return out
}

/// The softplus backward pieces, fused (one pass, no slope tensor), for w and x of one shape:
///   .gradient    w ⊙ σ(βx)                   (∂softplus, 1 where βx > 20)
///   .curvature   w ⊙ β·σ(βx)·(1 − σ(βx))     (∂²softplus, 0 where βx > 20)
public enum SoftplusDerivative: Sendable { case gradient, curvature }

/// `kind` of softplus_β's derivative at x, times w, one pass.
public func softplusDerivative(_ kind: SoftplusDerivative, _ w: Tensor, _ x: Tensor, beta: Double) -> Tensor {
    require(w.shape == x.shape && w.dtype == x.dtype,
            "softplus \(kind): \(Shape.describe(w.shape)) \(w.dtype) and \(Shape.describe(x.shape)) \(x.dtype) differ")
    func run<T: Scalar>(_: T.Type) -> Tensor {
        let out = Tensor(uninitialized: x.shape, dtype: x.dtype)
        let wp = w.pointer(T.self), xp = x.pointer(T.self), o = out.mutablePointer(T.self)
        let b = T(beta), threshold = T(softplusThreshold)
        forEachPiece(x.count, grain: elementwiseGrain) { r in
            switch kind {
            case .gradient:
                for i in r {
                    let z = b * xp[i]
                    o[i] = wp[i] * (z > threshold ? 1 : sigmoid(z))
                }
            case .curvature:
                for i in r {
                    let z = b * xp[i], s = sigmoid(z)
                    o[i] = z > threshold ? 0 : wp[i] * b * s * (1 - s)
                }
            }
        }
        return out
    }
    return x.dtype == .float32 ? run(Float.self) : run(Double.self)
}

/// target += source, elementwise, same shape: for buffers the caller owns exclusively (the
/// backward's gradient accumulators when no graph is recorded).
public func addInPlace(_ target: Tensor, _ source: Tensor) {
    require(target.shape == source.shape && target.dtype == source.dtype,
            "addInPlace: \(Shape.describe(target.shape)) \(target.dtype) += \(Shape.describe(source.shape)) \(source.dtype)")
    func run<T: Scalar>(_: T.Type) {
        let t = target.mutablePointer(T.self), s = source.pointer(T.self)
        forEachPiece(target.count, grain: elementwiseGrain) { r in for i in r { t[i] += s[i] } }
    }
    target.dtype == .float32 ? run(Float.self) : run(Double.self)
}
