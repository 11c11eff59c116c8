import Foundation

/// Sampling-based robustness of an attribution: how far e(x′) moves from e(x) over random x′
/// near x, the target class held at the clean image's prediction. Definitions, and where
/// Captum's and Quantus's code differ from them: configs/README.md, "Sampling metrics".
public enum SamplingMetric: String, CaseIterable, Sendable, Codable {
    /// max_d ‖e(x′_d) − e(x)‖₂ / ‖e(x)‖₂ (Yeh et al., 2019; Captum's `sensitivity_max`).
    case maxSensitivity = "max_sensitivity"
    /// mean_d of the same ratio.
    case avgSensitivity = "avg_sensitivity"
    /// max_d ‖e(x′_d) − e(x)‖₂ / ‖x′_d − x‖₂, input in pixel units (Alvarez-Melis & Jaakkola, 2018).
    case localLipschitz = "local_lipschitz"
    /// Relative input stability, max over the draws that keep the prediction (Agarwal et al., 2022).
    case ris
    /// Relative output stability (logits), max over the draws that keep the prediction.
    case ros
}

/// The distribution of x′ − x, per input element, in pixel units.
public enum SamplingNoise: String, CaseIterable, Sendable, Codable {
    /// U[−r, r] (Captum's default `perturb_func`: the L∞ ball of radius r).
    case uniform
    /// N(0, r²).
    case gaussian
}

/// The sampling metrics' settings (`attrguard eval --sampling-*`); defaults are Captum's.
public struct SamplingSettings: Sendable, Equatable {
    public var metrics: [SamplingMetric] = []
    /// r of the noise, pixel units ([0, 1] images).
    public var radius = 0.02
    public var draws = 10
    public var noise = SamplingNoise.uniform
    /// ε_min of RIS and ROS: the floor of their denominators and the stand-in for a zero element
    /// they divide by (Agarwal et al.'s and Quantus's 1e-6).
    public var epsMin = 1e-6

    public init() {}
}

/// One image's quantities at x and at its draws x′_d, flattened: the attribution as computed
/// (the gradient's units), the input in pixel units, the logits, and whether x′_d keeps x's
/// predicted class.
public struct SamplingObservation: Sendable {
    public var attribution: [Double], pixels: [Double], logits: [Double]
    public var draws: [(attribution: [Double], pixels: [Double], logits: [Double], samePrediction: Bool)]

    public init(attribution: [Double], pixels: [Double], logits: [Double],
                draws: [(attribution: [Double], pixels: [Double], logits: [Double], samePrediction: Bool)]) {
        self.attribution = attribution; self.pixels = pixels; self.logits = logits; self.draws = draws
    }

    /// Each requested metric's value for this image; nil where no draw qualifies (RIS and ROS when
    /// every draw changes the prediction; the Lipschitz estimate when every draw equals x).
    public func scores(_ metrics: [SamplingMetric], epsMin: Double) -> [SamplingMetric: Double?] {
        let base = norm(attribution)
        let sensitivities = draws.map { distance($0.attribution, attribution) / (base == 0 ? 1 : base) }
        let kept = draws.filter(\.samePrediction)
        let attributionChange = kept.map { relativeChange(attribution, $0.attribution, epsMin) }
        var out: [SamplingMetric: Double?] = [:]
        for m in metrics {
            switch m {
            case .maxSensitivity: out[m] = sensitivities.max()
            case .avgSensitivity: out[m] = sensitivities.isEmpty ? nil : sensitivities.reduce(0, +) / Double(sensitivities.count)
            case .localLipschitz:
                out[m] = draws.compactMap { d -> Double? in
                    let step = distance(d.pixels, pixels)
                    return step > 0 ? distance(d.attribution, attribution) / step : nil
                }.max()
            case .ris:
                out[m] = zip(kept, attributionChange).map { d, change in
                    change / max(relativeChange(pixels, d.pixels, epsMin), epsMin)
                }.max()
            case .ros:
                out[m] = zip(kept, attributionChange).map { d, change in
                    change / max(relativeChange(logits, d.logits, epsMin), epsMin)
                }.max()
            }
        }
        return out
    }
}

/// ‖a‖₂.
func norm(_ a: [Double]) -> Double { a.reduce(0) { $0 + $1 * $1 }.squareRoot() }

/// ‖a − b‖₂.
func distance(_ a: [Double], _ b: [Double]) -> Double {
    var s = 0.0
    for i in a.indices { let d = a[i] - b[i]; s += d * d }
    return s.squareRoot()
}

/// ‖(a − b) ⊘ a‖₂, a zero element of a divided as ε_min (Agarwal et al.'s relative change).
func relativeChange(_ a: [Double], _ b: [Double], _ epsMin: Double) -> Double {
    var s = 0.0
    for i in a.indices { let d = (a[i] - b[i]) / (a[i] == 0 ? epsMin : a[i]); s += d * d }
    return s.squareRoot()
}
