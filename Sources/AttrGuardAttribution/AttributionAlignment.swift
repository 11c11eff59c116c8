import AttrGuardCore
import AttrGuardNN

// ART's two pieces (Singh et al., ECCV 2020; github nupurkmr9/Attributional-Robustness): the
// training loss's triplet ranking of input gradients against the image (cifar/loss_art.py,
// cifar/cifar_robust_train.py) and the attack that trains against it (cifar/saliency_pgd.py
// `topk_alignment_saliency_attack`).

/// The gradients ART ranks, of X [N, C, H, W] on the tape: g₁ = ∇ₓ mean of the true-class logits,
/// g₂ = ∇ₓ mean of the strongest wrong class's logits (`top_scores.mean()`, `bottom_scores.mean()`),
/// the means over `meanOver` images (the whole batch across ranks; nil: these N). Without
/// `wrongClass` g₂ is not computed (nil).
func alignmentGradients(_ model: inout Model, _ input: Variable, labels: [Int], meanOver: Int?, createGraph: Bool,
                        wrongClass: Bool = true) throws -> (Variable, Variable?) {
    let z = model.logits(input)
    let n = 1.0 / Double(meanOver ?? labels.count)
    let g1 = try grad(of: targetLogitSum(z, labels: labels) * n, wrt: [input], createGraph: createGraph)[0]
    let g2 = wrongClass ? try grad(of: topOtherLogitSum(z, labels: labels) * n, wrt: [input], createGraph: createGraph)[0] : nil
    return (g1, g2)
}

/// ⟨a, b⟩ / ((‖a‖ + 1e-8)(‖b‖ + 1e-8)) per row of [N, D] matrices (loss_art.py `cosine_dist`: the
/// 1e-8 is added to each norm, not a floor on their product).
func cosineAddedEps(_ a: Variable, _ b: Variable) -> Variable {
    let dot = (a * b).sum(axes: [1]).reshaped([a.shape[0]])
    let na = (a * a).sum(axes: [1]).reshaped([a.shape[0]]).sqrt() + 1e-8, nb = (b * b).sum(axes: [1]).reshaped([a.shape[0]]).sqrt() + 1e-8
    return dot / (na * nb)
}

/// ART's regularizer on x and x' [B, C, H, W] and the true-class gradients g₁ of X = [x; x'] [2B, …].
/// One forward of the 2B images (batch norm sees them together, as `model(x_)` there); for image i
/// and its pair p(i) (x ↔ x'), d⁺ = max(1 − cos(Xᵢ, g₁ᵢ), 1 − cos(Xᵢ, g₁ₚ₍ᵢ₎)) and
/// d⁻ = min(1 − cos(Xᵢ, g₂ᵢ), 1 − cos(Xᵢ, g₂ₚ₍ᵢ₎)) (`hard_example_mining` over the two positives of
/// each row); loss = meanᵢ log(1 + exp(−(d⁻ − d⁺))) (SoftMarginLoss with target 1).
public func artRanking(_ model: inout Model, x: Tensor, perturbed: Tensor, labels: [Int], gradientBatch: Int? = nil) throws -> (loss: Variable, gradient: Variable) {
    let b = x.shape[0]
    let both = Tensor(shape: [2 * b] + Array(x.shape.dropFirst()), values: x.doubles + perturbed.doubles, dtype: x.dtype)
    let input = Variable(both, requiresGrad: true)
    let (g1, g2) = try alignmentGradients(&model, input, labels: labels + labels, meanOver: gradientBatch, createGraph: true)
    let xf = input.flattenedBatch(), g1f = g1.flattenedBatch(), g2f = g2!.flattenedBatch()
    let pair = (0..<(2 * b)).map { ($0 + b) % (2 * b) }
    let pSelf = 1.0 - cosineAddedEps(xf, g1f), pPair = 1.0 - cosineAddedEps(xf, gatherRows(g1f, pair))
    let nSelf = 1.0 - cosineAddedEps(xf, g2f), nPair = 1.0 - cosineAddedEps(xf, gatherRows(g2f, pair))
    // max(a, b) = (a + b + |a − b|)/2, min(a, b) = (a + b − |a − b|)/2: the selected side carries the gradient.
    let hardestPositive = (pSelf + pPair + (pSelf - pPair).abs()) * 0.5
    let hardestNegative = (nSelf + nPair - (nSelf - nPair).abs()) * 0.5
    return ((hardestPositive - hardestNegative).softplus(beta: 1).mean(), g1)
}

/// ART's attack: from `start` (x + U[−ε, ε]), the top-k pixels of |g₁| fixed there, then `steps`
/// sign steps of `stepSize` up the ranking loss of (x'ₖ, g₁ₖ, g₂ₖ) on those pixels (cosine with
/// PyTorch's CosineSimilarity eps 1e-6), each projected onto the ε-ball and the pixel range.
func attributionAlignmentAttack(_ model: inout Model, _ x: Tensor, labels: [Int], start: Tensor, epsilon: Double, stepSize: Double, steps: Int,
                                topK: Int, gradientBatch: Int?, range: PixelRange) throws -> Tensor {
    let b = x.shape[0], d = x.count / b, k = min(topK, d)
    let g0 = try alignmentGradients(&model, Variable(start, requiresGrad: true), labels: labels, meanOver: gradientBatch, createGraph: false,
                                    wrongClass: false).0.value.doubles
    let top = (0..<b).flatMap { i in (0..<d).sorted { abs(g0[i * d + $0]) > abs(g0[i * d + $1]) }.prefix(k).map { i * d + $0 } }
    return try signAscent(from: start, center: x, epsilon: epsilon, stepSize: stepSize, steps: steps, range: range) { input in
        let (g1, g2) = try alignmentGradients(&model, input, labels: labels, meanOver: gradientBatch, createGraph: true)
        func picked(_ v: Variable) -> Variable { gather(v, indices: top, shape: [b, k]) }
        let positive = 1.0 - cosineSimilarityPerSample(picked(input), picked(g1), eps: 1e-6)
        let negative = 1.0 - cosineSimilarityPerSample(picked(input), picked(g2!), eps: 1e-6)
        return (positive - negative).softplus(beta: 1).mean()
    }
}
