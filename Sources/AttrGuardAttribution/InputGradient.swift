import AttrGuardCore
import AttrGuardNN

/// What an attribution differentiates: Σᵢ CE(f(xᵢ), yᵢ) ("loss") or Σᵢ f(xᵢ)[yᵢ] ("logit").
/// Summing over samples gives each sample its own input gradient in one backward pass.
public enum AttributionTarget: String, Sendable, CaseIterable {
    case loss, logit

    /// The scalar whose input gradient is the attribution, summed over the batch.
    public func score(_ logits: Variable, labels: [Int]) -> Variable {
        switch self {
        case .loss: return crossEntropy(logits, labels: labels, reduction: .sum)
        case .logit: return targetLogitSum(logits, labels: labels)
        }
    }
}

/// g(x) = ∇ₓ target(f(x)) [B,C,H,W], together with the logits of the same forward call.
/// With `createGraph` the gradient stays on the tape, so a loss built from it can be
/// differentiated with respect to the parameters (double backprop).
public func inputGradient(_ model: inout Model, _ x: Tensor, labels: [Int], target: AttributionTarget,
                          createGraph: Bool) throws -> (gradient: Variable, logits: Variable) {
    let input = Variable(x, requiresGrad: true)
    let logits = model.logits(input)
    let g = try grad(of: target.score(logits, labels: labels), wrt: [input], createGraph: createGraph)[0]
    return (g, logits)
}

/// Integrated gradients with a zero baseline and an m-step right Riemann sum:
/// IG(x) = x ⊙ (1/m) Σ_{k=1..m} g(k/m · x). Each path point is its own forward call. When x is
/// on the tape (an attack), the path points are too, so IG can be differentiated in x.
public func integratedGradients(_ model: inout Model, _ x: Variable, labels: [Int], target: AttributionTarget,
                                steps m: Int, createGraph: Bool) throws -> Variable {
    try pathIntegral(&model, difference: x, labels: labels, target: target, steps: m, createGraph: createGraph) { x * (Double($0) / Double(m)) }
}

/// Integrated gradients along the straight path from `baseline` to `x`, right Riemann sum:
/// (x − baseline) ⊙ (1/m) Σ_{k=1..m} g(baseline + k/m · (x − baseline)), each point its own forward
/// call. With baseline = the clean image and x = its perturbation this is IG-NORM's attribution
/// (Chen et al. 2019; github jfc43/robust-attribution-regularization, GTSRB/model.py `self.IG`).
public func integratedGradients(_ model: inout Model, from baseline: Variable, to x: Variable, labels: [Int], target: AttributionTarget,
                                steps m: Int, createGraph: Bool) throws -> Variable {
    let difference = x - baseline
    return try pathIntegral(&model, difference: difference, labels: labels, target: target, steps: m, createGraph: createGraph) {
        baseline + difference * (Double($0) / Double(m))
    }
}

/// difference ⊙ (1/m) Σ_{k=1..m} g(point(k)): the path sum both integrated-gradient forms share.
private func pathIntegral(_ model: inout Model, difference: Variable, labels: [Int], target: AttributionTarget, steps m: Int,
                          createGraph: Bool, point: (Int) -> Variable) throws -> Variable {
    require(m >= 1, "integrated gradients: steps must be at least 1, got \(m)")
    var total: Variable?
    for k in 1...m {
        let p = point(k)
        // A constant point becomes a leaf: ∇ needs something on the tape to differentiate.
        let input = p.requiresGrad ? p : Variable(p.value, requiresGrad: true)
        let score = target.score(model.logits(input), labels: labels)
        let g = try grad(of: score, wrt: [input], createGraph: createGraph)[0]
        total = total.map { $0 + g } ?? g
    }
    return difference * (total! * (1.0 / Double(m)))
}
