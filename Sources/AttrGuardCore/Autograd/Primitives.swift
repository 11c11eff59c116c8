/// The primitive differentiable ops. Everything else (layers, losses, regularizers) is
/// composed from these. Each backward rule is itself written with these ops, so gradients of
/// gradients need no extra code.
///
///   elementwise   add sub mul div (broadcasting), exp log sqrt sigmoid softplus relu
///                 clampMin abs affine; softplusGradient, softplusCurvature (fused backward pieces)
///   shape         sum(toShape:) ⇄ broadcast(to:), reshape
///   linear algebra matmul (with transposes)
///   convolution   conv2d, conv2dInputGrad, conv2dWeightGrad (each other's adjoints)
///   pooling       gather ⇄ scatterAdd (max pooling), avgPool2d ⇄ avgPool2dAdjoint
///   reduction     logSumExp over the last axis

// MARK: elementwise binary (broadcasting)

private func binaryRecord(_ op: BinaryOp, _ a: Variable, _ b: Variable) -> Variable {
    let sa = a.shape, sb = b.shape
    return Variable.record("\(op)", binary(op, a.value, b.value), inputs: [a, b]) { ctx in
        let g = ctx.grad, x = ctx.inputs[0], y = ctx.inputs[1]
        switch op {
        case .add: return [ctx.needs[0] ? g.sum(toShape: sa) : nil, ctx.needs[1] ? g.sum(toShape: sb) : nil]
        case .sub: return [ctx.needs[0] ? g.sum(toShape: sa) : nil, ctx.needs[1] ? (-g).sum(toShape: sb) : nil]
        case .mul: return [ctx.needs[0] ? (g * y).sum(toShape: sa) : nil, ctx.needs[1] ? (g * x).sum(toShape: sb) : nil]
        case .div:
            return [ctx.needs[0] ? (g / y).sum(toShape: sa) : nil,
                    ctx.needs[1] ? (-(g * ctx.output) / y).sum(toShape: sb) : nil]
        }
    }
}

public func + (a: Variable, b: Variable) -> Variable { binaryRecord(.add, a, b) }
public func - (a: Variable, b: Variable) -> Variable { binaryRecord(.sub, a, b) }
public func * (a: Variable, b: Variable) -> Variable { binaryRecord(.mul, a, b) }
public func / (a: Variable, b: Variable) -> Variable { binaryRecord(.div, a, b) }

// MARK: elementwise unary

private func unaryRecord(_ op: UnaryOp, _ a: Variable) -> Variable {
    Variable.record("\(op)", unary(op, a.value), inputs: [a]) { ctx in
        let g = ctx.grad, x = ctx.inputs[0], y = ctx.output
        switch op {
        case .exp: return [g * y]
        case .log: return [g / x]
        case .sqrt: return [(g / y) * 0.5]
        case .sigmoid: return [g * (y * (1.0 - y))]
        case .softplus(let beta): return [softplusGradient(g, x, beta: beta)]
        case .softplusSlope(let beta): return [g * (y * (1.0 - y)) * beta]
        case .relu: return [g * Variable(unary(.greaterMask(threshold: 0), x.value))]
        case .clampMin(let c): return [g * Variable(unary(.greaterMask(threshold: c), x.value))]
        case .abs: return [g * Variable(unary(.sign, x.value))]
        case .affine(let s, _): return [g * s]
        case .neg: return [-g]
        case .reciprocal: return [-(g * y * y)]
        case .sign, .greaterMask: return [nil]   // piecewise constant: zero derivative
        }
    }
}

extension Variable {
    public func exp() -> Variable { unaryRecord(.exp, self) }
    public func log() -> Variable { unaryRecord(.log, self) }
    public func sqrt() -> Variable { unaryRecord(.sqrt, self) }
    public func sigmoid() -> Variable { unaryRecord(.sigmoid, self) }
    public func relu() -> Variable { unaryRecord(.relu, self) }
    public func abs() -> Variable { unaryRecord(.abs, self) }
    /// log(1 + exp(beta·x)) / beta.
    public func softplus(beta: Double) -> Variable { unaryRecord(.softplus(beta: beta), self) }
    /// max(x, c) elementwise; the gradient flows where x > c.
    public func clampMin(_ c: Double) -> Variable { unaryRecord(.clampMin(c), self) }
    /// x · scale + shift.
    public func affine(scale: Double, shift: Double = 0) -> Variable { unaryRecord(.affine(scale: scale, shift: shift), self) }
}

public prefix func - (a: Variable) -> Variable { a.affine(scale: -1) }
public func * (a: Variable, s: Double) -> Variable { a.affine(scale: s) }
public func * (s: Double, a: Variable) -> Variable { a.affine(scale: s) }
public func + (a: Variable, s: Double) -> Variable { a.affine(scale: 1, shift: s) }
public func - (a: Variable, s: Double) -> Variable { a.affine(scale: 1, shift: -s) }
public func - (s: Double, a: Variable) -> Variable { a.affine(scale: -1, shift: s) }
public func / (a: Variable, s: Double) -> Variable { a.affine(scale: 1 / s) }

/// g ⊙ σ(βx): softplus's backward as one fused op (no slope tensor on the tape).
public func softplusGradient(_ g: Variable, _ x: Variable, beta: Double) -> Variable {
    Variable.record("softplusGradient", softplusDerivative(.gradient, g.value, x.value, beta: beta), inputs: [g, x]) { ctx in
        let (u, g, x) = (ctx.grad, ctx.inputs[0], ctx.inputs[1])
        return [ctx.needs[0] ? softplusGradient(u, x, beta: beta) : nil,
                ctx.needs[1] ? softplusCurvature(u * g, x, beta: beta) : nil]
    }
}

/// w ⊙ β·σ(βx)·(1 − σ(βx)), fused; its own derivative (third order) through the composite form.
public func softplusCurvature(_ w: Variable, _ x: Variable, beta: Double) -> Variable {
    Variable.record("softplusCurvature", softplusDerivative(.curvature, w.value, x.value, beta: beta), inputs: [w, x]) { ctx in
        compositeBackward(ctx) { v in
            let s = unaryRecord(.softplusSlope(beta: beta), v[1])
            return v[0] * (s * (1.0 - s)) * beta
        }
    }
}

// MARK: shape

extension Variable {
    /// Sums over the axes where `shape` has size 1 or is missing (keep-dims reduction).
    public func sum(toShape shape: [Int]) -> Variable {
        if shape == self.shape { return self }
        let inShape = self.shape
        return Variable.record("sumTo", AttrGuardCore.sum(value, toShape: shape), inputs: [self]) { ctx in
            [ctx.grad.broadcast(to: inShape)]
        }
    }

    /// Repeats size-1 (or missing) axes to `shape`; its adjoint is `sum(toShape:)`.
    public func broadcast(to shape: [Int]) -> Variable {
        if shape == self.shape { return self }
        let inShape = self.shape
        return Variable.record("broadcast", AttrGuardCore.broadcast(value, to: shape), inputs: [self]) { ctx in
            [ctx.grad.sum(toShape: inShape)]
        }
    }

    /// The same elements under another shape of the same count.
    public func reshaped(_ shape: [Int]) -> Variable {
        if shape == self.shape { return self }
        let inShape = self.shape
        return Variable.record("reshape", value.reshaped(shape), inputs: [self]) { ctx in [ctx.grad.reshaped(inShape)] }
    }
}

// MARK: linear algebra

/// op(a) · op(b) for 2-d variables.
public func matmul(_ a: Variable, _ b: Variable, transposeA: Bool = false, transposeB: Bool = false) -> Variable {
    Variable.record("matmul", matmul(a.value, b.value, transposeA: transposeA, transposeB: transposeB), inputs: [a, b]) { ctx in
        let g = ctx.grad, x = ctx.inputs[0], y = ctx.inputs[1]
        let da = !ctx.needs[0] ? nil : transposeA ? matmul(y, g, transposeA: transposeB, transposeB: true)
                                                  : matmul(g, y, transposeA: false, transposeB: !transposeB)
        let db = !ctx.needs[1] ? nil : transposeB ? matmul(g, x, transposeA: true, transposeB: transposeA)
                                                  : matmul(x, g, transposeA: !transposeA, transposeB: false)
        return [da, db]
    }
}

// MARK: convolution

/// y[B,O,P,Q] = conv(x[B,C,H,W], w[O,C,k,k]) (cross-correlation, zero padding).
public func conv2d(_ x: Variable, _ w: Variable, stride: Int = 1, padding: Int = 0) -> Variable {
    let (h, wd) = (x.shape[2], x.shape[3])
    return Variable.record("conv2d", conv2d(x.value, w.value, stride: stride, padding: padding), inputs: [x, w]) { ctx in
        let g = ctx.grad
        return [ctx.needs[0] ? conv2dInputGrad(g, ctx.inputs[1], height: h, width: wd, stride: stride, padding: padding) : nil,
                ctx.needs[1] ? conv2dWeightGrad(ctx.inputs[0], g, kernel: ctx.inputs[1].shape[2], stride: stride, padding: padding) : nil]
    }
}

/// The adjoint of conv2d in its input: dx[B,C,H,W] from dy[B,O,P,Q] and w.
public func conv2dInputGrad(_ dy: Variable, _ w: Variable, height: Int, width: Int, stride: Int, padding: Int) -> Variable {
    Variable.record("conv2dInputGrad", conv2dInputGrad(dy.value, w.value, height: height, width: width, stride: stride, padding: padding),
                    inputs: [dy, w]) { ctx in
        // z = convᵀ(dy, w):  ∂/∂dy = conv(u, w),  ∂/∂w = weightGrad(u, dy)
        let u = ctx.grad
        return [ctx.needs[0] ? conv2d(u, ctx.inputs[1], stride: stride, padding: padding) : nil,
                ctx.needs[1] ? conv2dWeightGrad(u, ctx.inputs[0], kernel: ctx.inputs[1].shape[2], stride: stride, padding: padding) : nil]
    }
}

/// The adjoint of conv2d in its weight: dw[O,C,k,k] from x and dy.
public func conv2dWeightGrad(_ x: Variable, _ dy: Variable, kernel: Int, stride: Int, padding: Int) -> Variable {
    let (h, wd) = (x.shape[2], x.shape[3])
    return Variable.record("conv2dWeightGrad", conv2dWeightGrad(x.value, dy.value, kernel: kernel, stride: stride, padding: padding),
                           inputs: [x, dy]) { ctx in
        // z = weightGrad(x, dy):  ∂/∂x = convᵀ(dy, u),  ∂/∂dy = conv(x, u)
        let u = ctx.grad
        return [ctx.needs[0] ? conv2dInputGrad(ctx.inputs[1], u, height: h, width: wd, stride: stride, padding: padding) : nil,
                ctx.needs[1] ? conv2d(ctx.inputs[0], u, stride: stride, padding: padding) : nil]
    }
}

// MARK: pooling

/// out[i] = x.flat[indices[i]]; indices are constants (from `maxPoolIndices`).
public func gather(_ x: Variable, indices: [Int], shape: [Int]) -> Variable {
    let inShape = x.shape
    return Variable.record("gather", gather(x.value, indices: indices, shape: shape), inputs: [x]) { ctx in
        [scatterAdd(ctx.grad, indices: indices, shape: inShape)]
    }
}

/// out.flat[indices[i]] += g[i]: the adjoint of `gather`.
public func scatterAdd(_ g: Variable, indices: [Int], shape: [Int]) -> Variable {
    let inShape = g.shape
    return Variable.record("scatterAdd", scatterAdd(g.value, indices: indices, shape: shape), inputs: [g]) { ctx in
        [gather(ctx.grad, indices: indices, shape: inShape)]
    }
}

/// Mean over each window, [B,C,H,W] → [B,C,H',W'] (zero padding counted, as PyTorch's default).
public func avgPool2d(_ x: Variable, _ window: PoolGeometry) -> Variable {
    let inShape = x.shape
    return Variable.record("avgPool2d", avgPool2d(x.value, window), inputs: [x]) { ctx in
        [avgPool2dAdjoint(ctx.grad, window, inputShape: inShape)]
    }
}

/// The adjoint of `avgPool2d`: each output gradient spread evenly over its window, [B,C,H',W'] → `inputShape`.
public func avgPool2dAdjoint(_ dy: Variable, _ window: PoolGeometry, inputShape: [Int]) -> Variable {
    Variable.record("avgPool2dAdjoint", avgPool2dAdjoint(dy.value, window, inputShape: inputShape), inputs: [dy]) { ctx in
        [avgPool2d(ctx.grad, window)]
    }
}

// MARK: reduction

extension Variable {
    /// log Σ exp over the last axis: [.., C] -> [.., 1].
    public func logSumExp() -> Variable {
        Variable.record("logSumExp", logSumExpLastAxis(value), inputs: [self]) { ctx in
            // ∂/∂x = g · softmax(x) = g · exp(x − lse)
            [ctx.grad * (ctx.inputs[0] - ctx.output).exp()]
        }
    }
}
