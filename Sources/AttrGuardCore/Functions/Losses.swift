/// Losses and similarities, per sample where the papers need per-sample terms.

/// One-hot matrix [N, C] (a constant) for integer labels.
public func oneHot(_ labels: [Int], classes: Int, dtype: DType) -> Tensor {
    var v = [Double](repeating: 0, count: labels.count * classes)
    for (i, y) in labels.enumerated() {
        require(y >= 0 && y < classes, "oneHot: label \(y) at index \(i) is outside 0..<\(classes)")
        v[i * classes + y] = 1
    }
    return Tensor(shape: [labels.count, classes], values: v, dtype: dtype)
}

/// Per-sample cross-entropy [N] of logits [N, C]: logsumexp(z) − z[y] (stable log-softmax).
public func crossEntropyPerSample(_ logits: Variable, labels: [Int]) -> Variable {
    require(logits.shape.count == 2 && logits.shape[0] == labels.count,
                 "cross_entropy: logits \(Shape.describe(logits.shape)) for \(labels.count) labels")
    let target = Variable(oneHot(labels, classes: logits.shape[1], dtype: logits.dtype))
    return (logits.logSumExp() - (logits * target).sum(axes: [1])).reshaped([labels.count])
}

/// log softmax of logits [N, C] over the classes: z − logsumexp(z), [N, C].
public func logSoftmax(_ logits: Variable) -> Variable {
    logits - logits.logSumExp()
}

/// Per-sample KL(softmax(p) ‖ softmax(q)) [N] of logits p, q [N, C]: Σ_c P (log P − log Q), the
/// gradient flowing through both (as PyTorch's KLDivLoss(log_softmax(q), softmax(p)) with p on the tape).
public func klDivergencePerSample(_ p: Variable, _ q: Variable) -> Variable {
    let logP = logSoftmax(p)
    return (logP.exp() * (logP - logSoftmax(q))).sum(axes: [1]).reshaped([p.shape[0]])
}

/// Σᵢ max_{c ≠ yᵢ} zᵢ[c]: the strongest wrong class's logit per sample, summed (the selected
/// entry carries the gradient, as torch.max does).
public func topOtherLogitSum(_ logits: Variable, labels: [Int]) -> Variable {
    let (n, c) = (logits.shape[0], logits.shape[1])
    let z = logits.value.doubles
    let picks = (0..<n).map { i in i * c + (0..<c).filter { $0 != labels[i] }.max { z[i * c + $0] < z[i * c + $1] }! }
    return gather(logits, indices: picks, shape: [n]).sum()
}

/// Rows of a [N, D] matrix in the order `rows` gives ([rows.count, D]).
public func gatherRows(_ x: Variable, _ rows: [Int]) -> Variable {
    let d = x.shape[1]
    return gather(x, indices: rows.flatMap { r in (r * d)..<(r * d + d) }, shape: [rows.count, d])
}

/// Σᵢ CE(zᵢ, yᵢ) or its mean.
public func crossEntropy(_ logits: Variable, labels: [Int], reduction: Reduction = .mean) -> Variable {
    let perSample = crossEntropyPerSample(logits, labels: labels)
    return reduction == .mean ? perSample.mean() : perSample.sum()
}

/// Σᵢ zᵢ[yᵢ]: the "logit" attribution target.
public func targetLogitSum(_ logits: Variable, labels: [Int]) -> Variable {
    (logits * Variable(oneHot(labels, classes: logits.shape[1], dtype: logits.dtype))).sum()
}

/// How a per-sample loss is combined over the batch.
public enum Reduction: Sendable { case sum, mean }

/// Per-sample cosine similarity [N] of a and b flattened per sample:
/// ⟨a,b⟩ / max(‖a‖·‖b‖, eps).
public func cosineSimilarityPerSample(_ a: Variable, _ b: Variable, eps: Double) -> Variable {
    require(a.shape == b.shape, "cosine: shapes \(Shape.describe(a.shape)) and \(Shape.describe(b.shape)) differ")
    let x = a.flattenedBatch(), y = b.flattenedBatch()
    let dot = (x * y).sum(axes: [1])
    let norms = ((x * x).sum(axes: [1]) * (y * y).sum(axes: [1])).sqrt()
    return (dot / norms.clampMin(eps)).reshaped([a.shape[0]])
}

/// Per-sample squared l2 distance [N] of a and b flattened per sample.
public func squaredL2PerSample(_ a: Variable, _ b: Variable) -> Variable {
    require(a.shape == b.shape, "squared_l2: shapes \(Shape.describe(a.shape)) and \(Shape.describe(b.shape)) differ")
    let d = (a - b).flattenedBatch()
    return (d * d).sum(axes: [1]).reshaped([a.shape[0]])
}
