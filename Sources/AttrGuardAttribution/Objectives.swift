import AttrGuardCore
import AttrGuardNN

/// The loss of one training step and its named parts. Keys follow the golden files:
/// `logits`, `ce`, `regularizer`, `total`, and the method's intermediates
/// (`input_grad`, `input_grad_adv`, `attribution`, `attribution_adv`, `l2_term`, `cos_term`).
public struct ObjectiveTerms {
    public var named: [String: Variable] = [:]
    public var total: Variable { named["total"]! }
    public var regularizer: Variable { named["regularizer"]! }
}

/// A training objective: CE on x plus a regularizer R on attributions at x and at x'.
/// x' (the perturbed batch) is given: perturbations are drawn separately (Perturbation.swift).
public enum Objective: Sendable, Equatable {
    case standard
    /// λ · meanᵢ ‖g(x)ᵢ‖²
    case gradNorm(lambda: Double, target: AttributionTarget)
    /// λ_l2 · meanᵢ ‖g(x)ᵢ − g(x')ᵢ‖² + λ_cos · meanᵢ (1 − cos(g(x)ᵢ, g(x')ᵢ)).
    /// `detachSource` treats g(x) as a constant in R (only g(x') is pulled towards it), as the
    /// l2+cosine authors' code does by default.
    case l2cos(lambdaL2: Double, lambdaCos: Double, cosEps: Double, target: AttributionTarget, detachSource: Bool = false)
    /// λ · meanᵢ (1 − cos(IG(x)ᵢ, IG(x')ᵢ)), m path steps
    case igr(lambda: Double, steps: Int, cosEps: Double, target: AttributionTarget)
    /// CE on x' alone (adversarial training when x' comes from PGD).
    case adversarial

    public var name: String {
        switch self {
        case .standard: return "standard"
        case .gradNorm: return "gradnorm"
        case .l2cos: return "l2cos"
        case .igr: return "igr"
        case .adversarial: return "pgd"
        }
    }

    /// The regularizer weights by config key (`lambda`, or `lambda_l2` and `lambda_cos`); empty without a regularizer.
    public var weights: [(key: String, value: Double)] {
        switch self {
        case .standard, .adversarial: return []
        case let .gradNorm(lambda, _), let .igr(lambda, _, _, _): return [("lambda", lambda)]
        case let .l2cos(l2, cos, _, _, _): return [("lambda_l2", l2), ("lambda_cos", cos)]
        }
    }

    /// Whether the objective reads x'.
    public var needsPerturbation: Bool {
        switch self {
        case .l2cos, .igr, .adversarial: return true
        case .standard, .gradNorm: return false
        }
    }

    /// Builds every term on the tape. The CE forward on x is shared with g(x) where the
    /// method needs g(x): the same batch gives the same batch-norm statistics, so this equals
    /// separate forward calls and saves one.
    public func terms(_ model: inout Model, x: Tensor, perturbed: Tensor?, labels: [Int]) throws -> ObjectiveTerms {
        func needX() -> Tensor {
            guard let perturbed else { fatalError("objective \(name) needs a perturbed batch x'") }
            return perturbed
        }
        // Each method gives the logits its CE is computed on, its regularizer and its intermediates.
        let logits: Variable, regularizer: Variable
        var parts: [String: Variable] = [:]
        switch self {
        case .standard:
            logits = model.logits(Variable(x))
            regularizer = Variable(Tensor.scalar(0, dtype: x.dtype))
        case let .gradNorm(lambda, target):
            let (g, z) = try inputGradient(&model, x, labels: labels, target: target, createGraph: true)
            let flat = g.flattenedBatch()
            (logits, regularizer) = (z, (flat * flat).sum(axes: [1]).mean() * lambda)
            parts["input_grad"] = g
        case let .l2cos(l2, cos, eps, target, detachSource):
            let (source, z) = try inputGradient(&model, x, labels: labels, target: target, createGraph: !detachSource)
            let g = detachSource ? source.detached : source
            let gAdv = try inputGradient(&model, needX(), labels: labels, target: target, createGraph: true).gradient
            let l2Term = squaredL2PerSample(g, gAdv).mean()
            let cosTerm = (1.0 - cosineSimilarityPerSample(g, gAdv, eps: eps)).mean()
            (logits, regularizer) = (z, l2Term * l2 + cosTerm * cos)
            parts = ["input_grad": g, "input_grad_adv": gAdv, "l2_term": l2Term, "cos_term": cosTerm]
        case let .igr(lambda, steps, eps, target):
            logits = model.logits(Variable(x))
            let a = try integratedGradients(&model, Variable(x), labels: labels, target: target, steps: steps, createGraph: true)
            let b = try integratedGradients(&model, Variable(needX()), labels: labels, target: target, steps: steps, createGraph: true)
            let cosTerm = (1.0 - cosineSimilarityPerSample(a, b, eps: eps)).mean()
            regularizer = cosTerm * lambda
            parts = ["attribution": a, "attribution_adv": b, "cos_term": cosTerm]
        case .adversarial:
            logits = model.logits(Variable(needX()))
            regularizer = Variable(Tensor.scalar(0, dtype: x.dtype))
        }
        var t = ObjectiveTerms()
        t.named = parts
        t.named["logits"] = logits
        t.named["ce"] = crossEntropy(logits, labels: labels)
        t.named["regularizer"] = regularizer
        t.named["total"] = t.named["ce"]! + t.named["regularizer"]!
        return t
    }
}
