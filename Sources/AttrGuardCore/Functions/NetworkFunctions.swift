/// The functions layers are made of, composed from primitives (so every one has
/// derivatives of any order).

/// y[N,O] = x[N,I] · w[O,I]ᵀ + b[O].
public func linear(_ x: Variable, weight: Variable, bias: Variable?) -> Variable {
    require(x.shape.count == 2 && weight.shape.count == 2 && x.shape[1] == weight.shape[1],
                 "linear: input \(Shape.describe(x.shape)) does not match weight \(Shape.describe(weight.shape)) ([out, in])")
    let y = matmul(x, weight, transposeB: true)
    return bias.map { y + $0.reshaped([1, $0.shape[0]]) } ?? y
}

/// Convolution with an optional per-channel bias [O].
public func conv2d(_ x: Variable, weight: Variable, bias: Variable?, stride: Int, padding: Int) -> Variable {
    let y = conv2d(x, weight, stride: stride, padding: padding)
    return bias.map { y + $0.reshaped([1, $0.shape[0], 1, 1]) } ?? y
}

/// Max pooling: argmax indices (constants) then a differentiable gather.
public func maxPool2d(_ x: Variable, _ window: PoolGeometry) -> Variable {
    let (indices, shape) = OpProfiler.measure("maxPoolIndices") { maxPoolIndices(x.value, window) }
    return gather(x, indices: indices, shape: shape)
}

/// [B,C,H,W] -> [B,C,1,1].
public func globalAvgPool(_ x: Variable) -> Variable {
    require(x.shape.count == 4, "global_avgpool: needs [B,C,H,W], got \(Shape.describe(x.shape))")
    return x.mean(axes: [2, 3])
}

/// Batch normalisation of [B,C,H,W] with the current batch's statistics (biased variance),
/// as PyTorch's training mode: the fused primitive (Autograd/BatchNormOps.swift). Returns the
/// output and the batch mean and (unbiased) variance for the running statistics.
public func batchNormTraining(_ x: Variable, weight: Variable, bias: Variable, eps: Double)
    -> (output: Variable, mean: Tensor, unbiasedVariance: Tensor) {
    batchNorm(x, weight: weight, bias: bias, eps: eps)
}

/// Batch normalisation with fixed statistics (evaluation mode): an affine map per channel.
public func batchNormInference(_ x: Variable, weight: Variable, bias: Variable,
                               runningMean: Tensor, runningVariance: Tensor, eps: Double) -> Variable {
    let c = x.shape[1]
    let inverseStd = Variable(unary(.reciprocal, unary(.sqrt, unary(.affine(scale: 1, shift: eps), runningVariance))))
    let scale = (weight * inverseStd).reshaped([1, c, 1, 1])
    let shift = bias.reshaped([1, c, 1, 1]) - Variable(runningMean).reshaped([1, c, 1, 1]) * scale
    return x * scale + shift
}
