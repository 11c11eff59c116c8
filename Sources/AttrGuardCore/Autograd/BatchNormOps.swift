/// Batch normalisation (training mode) as fused primitives whose backward rules are themselves
/// fused primitives (Kernels/BatchNorm.swift), down to second order; the second-order kernels
/// differentiate through their composite form, so any order stays exact.
///
///   batchNorm(x, γ, β)             ∂x = batchNormInputGrad(g, x, γ)   ∂γ = batchNormWeightGrad(g, x)   ∂β = Σ g
///   batchNormInputGrad(g, x, γ)    ∂g = batchNormInputGrad(u, x, γ)   ∂x = secondInputGrad(u, g, x, γ)  ∂γ = secondGammaGrad(u, g, x)
///   batchNormWeightGrad(g, x)      ∂g = batchNorm(x, v, 0)            ∂x = batchNormInputGrad(g, x, v)
/// The nodes keep x (and g), never x̂ or other full-size intermediates.
///
/// Batch norm followed by softplus (ResNet's conv → BN → activation) is one node as well,
/// `batchNormSoftplus`, so that neither the normalised output nor, in a recorded input-gradient
/// pass, the gradient at it is kept: two full-size tensors less per such layer and pass.
///
/// `syncBatchNorm` is the synchronized form (statistics across ranks through `summedOverRanks`,
/// CrossRankSum.swift), composed from primitives.

/// y[B,C,H,W] = γ·x̂ + β with the batch's statistics; also the batch mean and unbiased variance [C]
/// for the running statistics (PyTorch's training mode).
public func batchNorm(_ x: Variable, weight: Variable, bias: Variable, eps: Double)
    -> (output: Variable, mean: Tensor, unbiasedVariance: Tensor) {
    recordBatchNorm("batchNorm", x, weight: weight, bias: bias, eps: eps) { ctx in
        let g = ctx.grad, c = ctx.inputs[1].shape[0]
        return [ctx.needs[0] ? batchNormInputGrad(g, ctx.inputs[0], weight: ctx.inputs[1], eps: eps) : nil,
                ctx.needs[1] ? batchNormWeightGrad(g, ctx.inputs[0], eps: eps) : nil,
                ctx.needs[2] ? g.sum(toShape: [1, c, 1, 1]).reshaped([c]) : nil]
    }
}

/// z = softplus_β(batchNorm(x, γ, b)) [B,C,H,W], with the batch statistics as `batchNorm` returns
/// them. The node keeps x, γ and b; the backward recomputes y = batchNorm(x) where it needs it.
public func batchNormSoftplus(_ x: Variable, weight: Variable, bias: Variable, eps: Double, beta: Double)
    -> (output: Variable, mean: Tensor, unbiasedVariance: Tensor) {
    recordBatchNorm("batchNormSoftplus", x, weight: weight, bias: bias, eps: eps,
                    then: { unary(.softplus(beta: beta), $0) }) { ctx in
        let (g, x, w, b) = (ctx.grad, ctx.inputs[0], ctx.inputs[1], ctx.inputs[2]), c = w.shape[0]
        // An input-gradient pass (the one a regularizer records) wants x only: one fused node.
        guard ctx.needs[1] || ctx.needs[2] else {
            return [batchNormSoftplusInputGrad(g, x, weight: w, bias: b, eps: eps, beta: beta), nil, nil]
        }
        // Parameter gradients too: s = ∂/∂y through the recomputed y, shared by all three.
        let s = softplusGradient(g, batchNorm(x, weight: w, bias: b, eps: eps).output, beta: beta)
        return [ctx.needs[0] ? batchNormInputGrad(s, x, weight: w, eps: eps) : nil,
                ctx.needs[1] ? batchNormWeightGrad(s, x, eps: eps) : nil,
                ctx.needs[2] ? s.sum(toShape: [1, c, 1, 1]).reshaped([c]) : nil]
    }
}

/// Records the training-mode batch-norm node `op` on (x, γ, b), whose value is `then` of the
/// normalised output; returns it with the batch mean and the unbiased variance [C].
private func recordBatchNorm(_ op: String, _ x: Variable, weight: Variable, bias: Variable, eps: Double,
                             then: (Tensor) -> Tensor = { $0 }, backward: @escaping (BackwardContext) -> [Variable?])
    -> (output: Variable, mean: Tensor, unbiasedVariance: Tensor) {
    require(x.shape.count == 4 && weight.shape == [x.shape[1]] && bias.shape == [x.shape[1]],
            "batchnorm2d: input \(Shape.describe(x.shape)) does not match weight \(Shape.describe(weight.shape))")
    var stats: (mean: Tensor, variance: Tensor)?
    let out = Variable.record(op, {
        let r = batchNormForward(x.value, gamma: weight.value, beta: bias.value, eps: eps)
        stats = (r.mean, r.variance)
        return then(r.y)
    }(), inputs: [x, weight, bias], backward: backward)
    let n = x.shape[0] * x.shape[2] * x.shape[3]
    let correction = n > 1 ? Double(n) / Double(n - 1) : 1
    return (out, stats!.mean, unary(.affine(scale: correction, shift: 0), stats!.variance))
}

/// dx = batchNormInputGrad(g ⊙ σ(β·batchNorm(x, γ, b)), x, γ): the input gradient of
/// batchNormSoftplus for output gradient g, one node keeping g, x, γ, b. Its own derivative
/// differentiates that composite of fused ops (recomputing y and the gradient at it).
public func batchNormSoftplusInputGrad(_ g: Variable, _ x: Variable, weight: Variable, bias: Variable,
                                       eps: Double, beta: Double) -> Variable {
    Variable.record("batchNormSoftplusInputGrad", {
        let y = batchNormForward(x.value, gamma: weight.value, beta: bias.value, eps: eps).y
        return batchNormInputGrad(softplusDerivative(.gradient, g.value, y, beta: beta), x.value, gamma: weight.value, eps: eps)
    }(), inputs: [g, x, weight, bias]) { ctx in
        compositeBackward(ctx) { v in
            let y = batchNorm(v[1], weight: v[2], bias: v[3], eps: eps).output
            return batchNormInputGrad(softplusGradient(v[0], y, beta: beta), v[1], weight: v[2], eps: eps)
        }
    }
}

/// dx = γ·r·P(g): the input gradient of batchNorm for output gradient g [B,C,H,W].
public func batchNormInputGrad(_ g: Variable, _ x: Variable, weight: Variable, eps: Double) -> Variable {
    Variable.record("batchNormInputGrad", batchNormInputGrad(g.value, x.value, gamma: weight.value, eps: eps),
                    inputs: [g, x, weight]) { ctx in
        let (u, g, x, w) = (ctx.grad, ctx.inputs[0], ctx.inputs[1], ctx.inputs[2])
        return [ctx.needs[0] ? batchNormInputGrad(u, x, weight: w, eps: eps) : nil,
                ctx.needs[1] ? batchNormSecondInputGrad(u, g, x, weight: w, eps: eps) : nil,
                ctx.needs[2] ? batchNormSecondGammaGrad(u, g, x, eps: eps) : nil]
    }
}

/// dγ[C] = Σ g·x̂: the weight gradient of batchNorm.
public func batchNormWeightGrad(_ g: Variable, _ x: Variable, eps: Double) -> Variable {
    Variable.record("batchNormWeightGrad", batchNormWeightGrad(g.value, x.value, eps: eps), inputs: [g, x]) { ctx in
        let (v, g, x) = (ctx.grad, ctx.inputs[0], ctx.inputs[1])
        let zero = Variable(Tensor(zeros: v.shape, dtype: v.dtype))
        return [ctx.needs[0] ? batchNorm(x, weight: v, bias: zero, eps: eps).output : nil,
                ctx.needs[1] ? batchNormInputGrad(g, x, weight: v, eps: eps) : nil]
    }
}

/// ∂x of Σ u·batchNormInputGrad(g, x, γ).
public func batchNormSecondInputGrad(_ u: Variable, _ g: Variable, _ x: Variable, weight: Variable, eps: Double) -> Variable {
    Variable.record("batchNormSecondInputGrad", batchNormSecondInputGrad(u.value, g.value, x.value, gamma: weight.value, eps: eps),
                    inputs: [u, g, x, weight]) { ctx in
        compositeBackward(ctx) { v in BatchNormComposite.secondInputGrad(v[0], v[1], v[2], v[3], eps: eps) }
    }
}

/// ∂γ[C] of Σ u·batchNormInputGrad(g, x, γ).
public func batchNormSecondGammaGrad(_ u: Variable, _ g: Variable, _ x: Variable, eps: Double) -> Variable {
    Variable.record("batchNormSecondGammaGrad", batchNormSecondGammaGrad(u.value, g.value, x.value, eps: eps),
                    inputs: [u, g, x]) { ctx in
        compositeBackward(ctx) { v in BatchNormComposite.secondGammaGrad(v[0], v[1], v[2], eps: eps) }
    }
}

/// Batch normalisation (training mode) with the statistics of the batch across all ranks:
/// mean and biased variance over every rank's [B,·,H,W], from per-rank sums. Written with
/// primitives and `summedOverRanks`, so every order of derivative is exact (and each backward
/// all-reduces the same per-channel sums a 1-rank run would take over its whole batch). Slower than
/// the fused kernels: the cost of synchronizing.
/// - Returns: y [B,C,H,W], and the global batch's mean and unbiased variance [C].
public func syncBatchNorm(_ x: Variable, weight: Variable, bias: Variable, eps: Double, reducer: any CrossRankReducer)
    -> (output: Variable, mean: Tensor, unbiasedVariance: Tensor) {
    require(x.shape.count == 4 && weight.shape == [x.shape[1]] && bias.shape == [x.shape[1]],
            "batchnorm2d: input \(Shape.describe(x.shape)) does not match weight \(Shape.describe(weight.shape))")
    let c = x.shape[1], channel = [1, c, 1, 1]
    // Two all-reduces forward (Σx with the element count, then Σ(x − μ)²: the second needs μ) and,
    // as each is its own adjoint, two in every backward through the layer.
    let (total, n) = x.sum(toShape: channel).summedOverRanks(reducer, count: x.shape[0] * x.shape[2] * x.shape[3])
    let mean = total * (1 / Double(n))
    let centered = x - mean
    let variance = (centered * centered).sum(toShape: channel).summedOverRanks(reducer) * (1 / Double(n))
    let r = Variable(Tensor.scalar(1, dtype: x.dtype)) / (variance + eps).sqrt()
    let y = centered * r * weight.reshaped(channel) + bias.reshaped(channel)
    let correction = n > 1 ? Double(n) / Double(n - 1) : 1
    return (y, mean.value.reshaped([c]), unary(.affine(scale: correction, shift: 0), variance.value.reshaped([c])))
}

/// The batch-norm maps written with elementwise primitives and channel means: the third-order
/// rules of the fused kernels, and the reference the tests compare the kernels against.
public enum BatchNormComposite {
    /// (μ, r, x̂) per channel, [1,C,1,1] / [B,C,H,W].
    static func normalized(_ x: Variable, eps: Double) -> (mean: Variable, r: Variable, xhat: Variable) {
        let mean = x.mean(axes: [0, 2, 3])
        let centered = x - mean
        let r = Variable(Tensor.scalar(1, dtype: x.dtype)) / ((centered * centered).mean(axes: [0, 2, 3]) + eps).sqrt()
        return (mean, r, centered * r)
    }

    /// y = γ·x̂ + β with the batch statistics, from primitives.
    public static func forward(_ x: Variable, _ gamma: Variable, _ beta: Variable, eps: Double) -> Variable {
        let c = x.shape[1]
        return normalized(x, eps: eps).xhat * gamma.reshaped([1, c, 1, 1]) + beta.reshaped([1, c, 1, 1])
    }

    /// ∂x of Σ u·inputGrad(g, x, γ), from primitives.
    public static func secondInputGrad(_ u: Variable, _ g: Variable, _ x: Variable, _ gamma: Variable, eps: Double) -> Variable {
        let (_, r, xhat) = normalized(x, eps: eps)
        func m(_ t: Variable) -> Variable { t.mean(axes: [0, 2, 3]) }
        let (mu, mg) = (m(u * xhat), m(g * xhat)), (ub, gb) = (m(u), m(g))
        let bracket = xhat * (ub * gb - m(g * u) + 3.0 * mg * mu) + mu * (gb - g) + mg * (ub - u)
        return gamma.reshaped([1, x.shape[1], 1, 1]) * r * r * bracket
    }

    /// ∂γ of Σ u·inputGrad(g, x, γ), from primitives.
    public static func secondGammaGrad(_ u: Variable, _ g: Variable, _ x: Variable, eps: Double) -> Variable {
        let (_, r, xhat) = normalized(x, eps: eps)
        func m(_ t: Variable) -> Variable { t.mean(axes: [0, 2, 3]) }
        let n = Double(x.shape[0] * x.shape[2] * x.shape[3])
        return (r * (m(u * g) - m(u) * m(g) - m(u * xhat) * m(g * xhat)) * n).reshaped([x.shape[1]])
    }
}
