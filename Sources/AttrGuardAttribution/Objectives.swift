import AttrGuardCore
import AttrGuardNN

/// The loss of one training step and its parts, all on the tape (scalars unless a shape is given).
public struct ObjectiveTerms {
    /// [B, classes] of the forward the CE is taken on.
    public var logits: Variable
    public var ce: Variable
    public var regularizer: Variable
    /// ce + regularizer: what the parameter gradient is taken of.
    public var total: Variable
    /// l2cos's two parts (λ not applied); igr's cosine part; trades' KL part; art's ranking loss. nil where the method has none.
    public var l2Term: Variable?, cosTerm: Variable?, klTerm: Variable?, rankingTerm: Variable?
    /// [B, classes] of the forward on x' (trades).
    public var logitsPerturbed: Variable?
    /// The method's attributions [B,C,H,W]: g(x) and g(x') (gradnorm, l2cos), IG(x) and IG(x') (igr),
    /// g(x) and the Hessian-vector product Hv (hessian).
    public var attribution: Variable?, attributionPerturbed: Variable?

    /// The scalar terms' names in the order a progress line shows them (the total first).
    public static let progressOrder = ["total", "ce", "regularizer", "l2_term", "cos_term", "kl_term", "ranking_term"]

    /// The scalar terms as the log and the metrics name them, in that order (absent ones left out).
    public var scalars: [(name: String, value: Variable)] {
        [("ce", ce), ("regularizer", regularizer), ("l2_term", l2Term), ("cos_term", cosTerm), ("kl_term", klTerm), ("ranking_term", rankingTerm), ("total", total)]
            .compactMap { name, v in v.map { (name, $0) } }
    }

    /// Every term by the golden files' keys: `logits`, `ce`, `regularizer`, `total`, `l2_term`,
    /// `cos_term`, `kl_term`, `logits_adv`, and `input_grad`/`input_grad_adv`,
    /// `attribution`/`attribution_adv` or `input_grad`/`hessian_vector_product`.
    public func named(for objective: Objective) -> [String: Variable] {
        var d = Dictionary(uniqueKeysWithValues: scalars.map { ($0.name, $0.value) })
        d["logits"] = logits
        if let logitsPerturbed { d["logits_adv"] = logitsPerturbed }
        let (a, b) = objective.attributionNames
        if let attribution { d[a] = attribution }
        if let attributionPerturbed { d[b] = attributionPerturbed }
        return d
    }
}

/// What the cross-entropy part of a regularized objective is taken on (`method.base`).
public enum ObjectiveBase: Sendable, Equatable {
    /// CE on x' (adversarial training when x' comes from PGD).
    case pgd
    /// CE on x plus β · meanᵢ KL(f(xᵢ) ‖ f(x'ᵢ)) (TRADES).
    case trades(beta: Double)

    public var name: String {
        switch self {
        case .pgd: return "pgd"
        case .trades: return "trades"
        }
    }
}

/// A training objective: CE on x plus a regularizer R on attributions at x and at x'.
/// x' (the perturbed batch) is given: perturbations are drawn separately (Perturbation.swift).
public indirect enum Objective: Sendable, Equatable {
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
    case pgd
    /// λ · meanᵢ ‖(H vᵢ)ᵢ‖², H the input Hessian of Σ target (the authors' target: the true-class
    /// logit), vᵢ ~ N(0, I) per sample (`probe`): "Hessian norm at the input", the baseline of the
    /// l2+cosine paper (github joshua840/RobustAGA, project/module/pl_hessian_classifier.py,
    /// `default_step`). Its parameter gradient is a third derivative of the network.
    case hessian(lambda: Double, target: AttributionTarget)
    /// β · meanᵢ KL(softmax f(xᵢ) ‖ softmax f(x'ᵢ)), x' from `Perturbation.trades` (TRADES, Zhang
    /// et al. 2019; github yaodongyu/TRADES, trades.py `trades_loss`: `loss_natural + beta * loss_robust`).
    case trades(beta: Double)
    /// IG-NORM (Chen, Wu, Rastogi, Liang, Jha, NeurIPS 2019; github jfc43/robust-attribution-regularization,
    /// GTSRB/model.py `loss_with_IG_regularizer`): CE on x plus λ · meanᵢ ‖IG(x → x')ᵢ‖₁, IG of the CE
    /// along the path from x to x' (m steps), x' from `Perturbation.integratedGradientNorm`.
    case igNorm(lambda: Double, steps: Int)
    /// IG-SUM-NORM (same file, `adv_loss_with_IG_regularizer`): CE on x' instead of x, plus the same term.
    case igSumNorm(lambda: Double, steps: Int)
    /// ART (Singh, Kumari, Mangla, Sinha, Balasubramanian, Krishnamurthy, "Attributional Robustness
    /// Training using Input-Gradient Spatial Alignment", ECCV 2020; github nupurkmr9/Attributional-Robustness,
    /// cifar/cifar_robust_train.py `saliency_train`, cifar/loss_art.py): CE on x' plus λ · a triplet
    /// ranking loss over X = [x; x'] (one forward of 2B images): per image, the largest cosine
    /// distance between it and the true-class input gradient of itself or its pair, against the
    /// smallest between it and the strongest wrong class's gradient, through SoftMarginLoss. x' from
    /// `Perturbation.attributionAlignment`.
    /// `gradientBatch`: the count the authors' gradient means (`top_scores.mean()`) divide by: the
    /// global batch in training, so N ranks train the 1-rank model (their cosines add 1e-8 to the
    /// gradient norms, so the scale shows); nil: this call's own 2B.
    case art(lambda: Double, gradientBatch: Int? = nil)
    /// A regularized objective whose CE part is adversarial (`method.base`: AT+IGR, TRADES+IGR, …):
    /// `regularized`'s regularizer, plus CE on x' (pgd) or CE on x + β·KL(f(x) ‖ f(x')) (trades).
    /// One x' per step serves both the adversarial part and the regularizer.
    case based(ObjectiveBase, Objective)

    public var name: String {
        switch self {
        case .standard: return "standard"
        case .gradNorm: return "gradnorm"
        case .l2cos: return "l2cos"
        case .igr: return "igr"
        case .pgd: return "pgd"
        case .hessian: return "hessian"
        case .trades: return "trades"
        case .igNorm: return "ig_norm"
        case .igSumNorm: return "ig_sum_norm"
        case .art: return "art"
        case let .based(base, inner): return "\(inner.name)+\(base.name)"
        }
    }

    /// The names configs, golden cases and reports use, in `named(_:…)`'s order.
    public static let names = ["standard", "gradnorm", "l2cos", "igr", "pgd", "hessian", "trades", "ig_norm", "ig_sum_norm", "art"]

    /// The hyper-parameter keys each method reads (beside `attribution_of` and `cos_eps`, which every method accepts).
    public static let keys: [String: [String]] = [
        "standard": [], "pgd": [], "gradnorm": ["lambda"], "l2cos": ["lambda_l2", "lambda_cos", "detach_source_grad"],
        "igr": ["lambda", "ig_steps"], "hessian": ["lambda"], "trades": ["beta"],
        "ig_norm": ["lambda", "ig_steps"], "ig_sum_norm": ["lambda", "ig_steps"], "art": ["lambda"],
    ]

    /// The one place an objective is built from its name (nil for an unknown name).
    /// `number(key, default)` reads a hyper-parameter — `lambda`, `lambda_l2`, `lambda_cos`,
    /// `cos_eps` (default 1e-8), `ig_steps` (default 4; the caller checks it is a whole number) — from
    /// wherever the caller keeps them (a config's `method.*`, a golden case's `hparams`); a nil
    /// default means the key is required.
    public static func named(_ name: String, target: AttributionTarget, detachSource: Bool = false,
                             number: (_ key: String, _ default: Double?) throws -> Double) throws -> Objective? {
        switch name {
        case "standard": return .standard
        case "gradnorm": return .gradNorm(lambda: try number("lambda", nil), target: target)
        case "l2cos":
            return .l2cos(lambdaL2: try number("lambda_l2", nil), lambdaCos: try number("lambda_cos", nil), cosEps: try number("cos_eps", 1e-8),
                          target: target, detachSource: detachSource)
        case "igr":
            return .igr(lambda: try number("lambda", nil), steps: Int(try number("ig_steps", 4)), cosEps: try number("cos_eps", 1e-8), target: target)
        case "pgd": return .pgd
        case "hessian": return .hessian(lambda: try number("lambda", nil), target: target)
        case "trades": return .trades(beta: try number("beta", 6))
        // m = 50 path points: the authors' configs ("m": 50).
        case "ig_norm": return .igNorm(lambda: try number("lambda", nil), steps: Int(try number("ig_steps", 50)))
        case "ig_sum_norm": return .igSumNorm(lambda: try number("lambda", nil), steps: Int(try number("ig_steps", 50)))
        case "art": return .art(lambda: try number("lambda", 0.5))   // `total_loss = loss + 0.5*exemplar_loss`
        default: return nil
        }
    }

    /// The weights an objective puts on its terms, by config key (`method.lambda`, …).
    public enum Weight: String, Sendable, CaseIterable {
        case lambda, lambdaL2 = "lambda_l2", lambdaCos = "lambda_cos", beta
    }

    /// The regularizer weights (`lambda`, or `lambda_l2` and `lambda_cos`; TRADES' `beta`); empty without a regularizer.
    public var weights: [(key: Weight, value: Double)] {
        switch self {
        case .standard, .pgd: return []
        case let .gradNorm(lambda, _), let .igr(lambda, _, _, _), let .hessian(lambda, _), let .igNorm(lambda, _), let .igSumNorm(lambda, _),
             let .art(lambda, _):
            return [(.lambda, lambda)]
        case let .trades(beta): return [(.beta, beta)]
        case let .based(base, inner):
            if case let .trades(beta) = base { return inner.weights + [(.beta, beta)] }
            return inner.weights
        case let .l2cos(l2, cos, _, _, _): return [(.lambdaL2, l2), (.lambdaCos, cos)]
        }
    }

    /// The golden files' keys of the method's attributions at x and x'.
    var attributionNames: (String, String) {
        switch self {
        case .igr, .igNorm, .igSumNorm: return ("attribution", "attribution_adv")
        case let .based(_, inner): return inner.attributionNames
        default: break
        }
        if case .hessian = self { return ("input_grad", "hessian_vector_product") }
        return ("input_grad", "input_grad_adv")
    }

    /// Whether the objective reads x'.
    public var needsPerturbation: Bool {
        switch self {
        case .l2cos, .igr, .pgd, .trades, .igNorm, .igSumNorm, .art, .based: return true
        case .standard, .gradNorm, .hessian: return false
        }
    }

    /// Whether the objective reads a Hessian probe v (`terms(probe:)`).
    public var needsProbe: Bool {
        switch self {
        case .hessian: return true
        case let .based(_, inner): return inner.needsProbe
        default: return false
        }
    }

    /// Builds every term on the tape. The CE forward on x is shared with g(x) where the
    /// method needs g(x), and with f(x) in trades' KL: the same batch gives the same batch-norm
    /// statistics, so this equals separate forward calls and saves one. `probe` is hessian's v [B,C,H,W].
    public func terms(_ model: inout Model, x: Tensor, perturbed: Tensor?, probe: Tensor? = nil, labels: [Int]) throws -> ObjectiveTerms {
        func needX() -> Tensor {
            guard let perturbed else { fatalError("objective \(name) needs a perturbed batch x'") }
            return perturbed
        }
        // Each method gives the logits its CE is computed on, its regularizer and its intermediates.
        let logits: Variable, regularizer: Variable
        var l2Term: Variable?, cosTerm: Variable?, klTerm: Variable?, rankingTerm: Variable?, logitsPerturbed: Variable?
        var attribution: Variable?, attributionPerturbed: Variable?
        switch self {
        case .standard:
            logits = model.logits(Variable(x))
            regularizer = Variable(Tensor.scalar(0, dtype: x.dtype))
        case let .gradNorm(lambda, target):
            let (g, z) = try inputGradient(&model, x, labels: labels, target: target, createGraph: true)
            let flat = g.flattenedBatch()
            (logits, regularizer) = (z, (flat * flat).sum(axes: [1]).mean() * lambda)
            attribution = g
        case let .l2cos(l2, cos, eps, target, detachSource):
            let (source, z) = try inputGradient(&model, x, labels: labels, target: target, createGraph: !detachSource)
            let g = detachSource ? source.detached : source
            let gAdv = try inputGradient(&model, needX(), labels: labels, target: target, createGraph: true).gradient
            let l2Part = squaredL2PerSample(g, gAdv).mean()
            let cosPart = (1.0 - cosineSimilarityPerSample(g, gAdv, eps: eps)).mean()
            (logits, regularizer) = (z, l2Part * l2 + cosPart * cos)
            (l2Term, cosTerm, attribution, attributionPerturbed) = (l2Part, cosPart, g, gAdv)
        case let .igr(lambda, steps, eps, target):
            logits = model.logits(Variable(x))
            let a = try integratedGradients(&model, Variable(x), labels: labels, target: target, steps: steps, createGraph: true)
            let b = try integratedGradients(&model, Variable(needX()), labels: labels, target: target, steps: steps, createGraph: true)
            let cosPart = (1.0 - cosineSimilarityPerSample(a, b, eps: eps)).mean()
            regularizer = cosPart * lambda
            (cosTerm, attribution, attributionPerturbed) = (cosPart, a, b)
        case .pgd:
            logits = model.logits(Variable(needX()))
            regularizer = Variable(Tensor.scalar(0, dtype: x.dtype))
        case let .hessian(lambda, target):
            guard let probe else { fatalError("objective hessian needs a probe v") }
            let input = Variable(x, requiresGrad: true)
            let z = model.logits(input)
            let g = try grad(of: target.score(z, labels: labels), wrt: [input], createGraph: true)[0]
            // Σₙ ⟨vₙ, gₙ⟩: its input gradient is every sample's Hₙvₙ in one backward (the authors' einsum, then grad of its sum).
            let hv = try grad(of: (g * Variable(probe)).sum(), wrt: [input], createGraph: true)[0]
            let flat = hv.flattenedBatch()
            (logits, regularizer) = (z, (flat * flat).sum(axes: [1]).mean() * lambda)
            (attribution, attributionPerturbed) = (g, hv)
        case let .igNorm(lambda, steps), let .igSumNorm(lambda, steps):
            // The CE forward first (on x, or on x' for the sum form), then the path's calls.
            if case .igSumNorm = self { logits = model.logits(Variable(needX())) } else { logits = model.logits(Variable(x)) }
            let a = try integratedGradients(&model, from: Variable(x), to: Variable(needX()), labels: labels, target: .loss,
                                            steps: steps, createGraph: true)
            regularizer = a.abs().flattenedBatch().sum(axes: [1]).mean() * lambda
            attribution = a
        case let .art(lambda, gradientBatch):
            let (ranking, g) = try artRanking(&model, x: x, perturbed: needX(), labels: labels, gradientBatch: gradientBatch.map { 2 * $0 })
            logits = model.logits(Variable(needX()))
            regularizer = ranking * lambda
            (rankingTerm, attribution) = (ranking, g)
        case let .based(base, inner):
            // The regularized objective as usual (its CE forward on x included), then the adversarial part.
            let t = try inner.terms(&model, x: x, perturbed: needX(), probe: probe, labels: labels)
            (l2Term, cosTerm, attribution, attributionPerturbed) = (t.l2Term, t.cosTerm, t.attribution, t.attributionPerturbed)
            let zAdv = model.logits(Variable(needX()))
            logitsPerturbed = zAdv
            switch base {
            case .pgd:
                (logits, regularizer) = (zAdv, t.regularizer)
            case let .trades(beta):
                let kl = klDivergencePerSample(t.logits, zAdv).mean()
                (logits, regularizer, klTerm) = (t.logits, t.regularizer + kl * beta, kl)
            }
        case let .trades(beta):
            // TRADES evaluates f(x) twice (its CE and the KL's target): one batch, the same values; one call here.
            let z = model.logits(Variable(x)), zAdv = model.logits(Variable(needX()))
            let kl = klDivergencePerSample(z, zAdv).mean()
            (logits, regularizer) = (z, kl * beta)
            (klTerm, logitsPerturbed) = (kl, zAdv)
        }
        let ce = crossEntropy(logits, labels: labels)
        return ObjectiveTerms(logits: logits, ce: ce, regularizer: regularizer, total: ce + regularizer, l2Term: l2Term, cosTerm: cosTerm,
                              klTerm: klTerm, rankingTerm: rankingTerm, logitsPerturbed: logitsPerturbed, attribution: attribution, attributionPerturbed: attributionPerturbed)
    }
}
