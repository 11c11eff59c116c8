import AttrGuardAttribution

/// The three papers' evaluation settings as presets (`attrguard eval --protocol`), so one flag gives
/// a table comparable with theirs. Sources, per ../shared/ALGORITHMS.md and configs/README.md:
/// - `lens`: the LENS code (ksandeshk/LENS, `eval_with_lens_attribution_attack.py`, Chen et al.'s
///   `ig_attack.py`): top-k attack, 100 sign steps of 1/255 on integer images, ε = 8/255, 3 restarts
///   keeping the lowest Kendall τ, IG with 100 path points, LENS windows 3×3/5×5/7×7, curves over
///   ε ∈ {1, 2, 4, 8}/255.
/// - `ghorbani`: Ghorbani, Abid & Zou (AAAI 2019): top-k, mass-center and random-sign attacks,
///   100 iterations of step 0.5/255, ε ∈ {2, 4, 8}/255, each attack keeping its own measure's best iterate.
/// - `l2cos`: the l2+cosine paper's code (joshua840/RobustAGA, `test_taps_saps.py`, `test_rps.py`):
///   the targeted manipulation attack (Adam, 100 iterations, ε = 4/255, Softplus β = 20 in the
///   attack) and random perturbation similarity (10 draws, ε ∈ {4, 8, 16}/255) on gradient,
///   gradient×input, IG (50 steps) and SmoothGrad, every test image scored (its code does not filter).
/// - `sampling`: the sampling metrics (configs/README.md, "Sampling metrics") with Captum's `sensitivity_max`
///   defaults — U[−0.02, 0.02] noise, 10 draws — on saliency and IG, no attribution attack.
/// k of the top-k metrics and attack: 1000 for maps of 128×128 pixels or more (the papers' ImageNet
/// and Flower setting), 100 below (ALGORITHMS.md's CIFAR-10 value).
public enum EvaluationProtocol: String, Sendable, CaseIterable {
    case lens, ghorbani, l2cos, sampling

    /// Sets the preset's values on `e`; `mapPixels` is H·W of the attribution maps.
    public func apply(to e: inout Evaluation, mapPixels: Int) {
        e.protocolName = rawValue
        e.k = mapPixels >= 128 * 128 ? 1000 : 100
        e.window = 3
        e.halfWidths = [1, 2, 3]
        e.attack.selection = .objective
        e.attack.restarts = 1
        e.attack.quantize = false
        switch self {
        case .lens:
            e.methods = [.saliency, .integratedGradients]
            e.attacks = [.topK, .randomSign]
            e.attribution.igSteps = 100
            e.attack.iterations = 100
            e.attack.stepSize = 1.0 / 255
            e.attack.epsilon = 8.0 / 255
            e.epsilons = [1, 2, 4, 8].map { $0 / 255 }
            e.attack.restarts = 3
            e.attack.selection = .kendall
            e.attack.quantize = true
            e.attackBeta = 10
            e.correctOnly = true
        case .ghorbani:
            e.methods = [.saliency, .integratedGradients]
            e.attacks = [.topK, .massCenter, .randomSign]
            e.attribution.igSteps = 100
            e.attack.iterations = 100
            e.attack.stepSize = 0.5 / 255
            e.attack.epsilon = 8.0 / 255
            e.epsilons = [2, 4, 8].map { $0 / 255 }
            e.attackBeta = 10
            e.correctOnly = true
        case .sampling:
            e.methods = [.saliency, .integratedGradients]
            e.attacks = []
            e.epsilons = []
            e.sampling = SamplingSettings()
            e.sampling.metrics = SamplingMetric.allCases
            e.correctOnly = true
        case .l2cos:
            e.methods = [.saliency, .gradientTimesInput, .integratedGradients, .smoothGrad]
            e.attacks = [.manipulation, .randomPerturbation]
            e.attribution.igSteps = 50
            e.attack.iterations = 100
            e.attack.epsilon = 4.0 / 255
            e.epsilons = [4, 8, 16].map { $0 / 255 }
            e.attack.draws = 10
            e.attack.frameWidth = nil
            e.attackBeta = 20
            e.correctOnly = false
        }
    }
}
