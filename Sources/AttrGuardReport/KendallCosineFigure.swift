import AttrGuardAttribution
import Foundation

/// IGR's claim as a figure: per attribution method, each attributed image's Kendall τ against
/// its cosine similarity between the clean and the attacked map (one point per image, a colour per
/// attack), the Pearson r of the two in the legend. From report.json's `per_image`.
public enum KendallCosineFigure {
    /// nil when the report holds no per-image scores.
    public static func figure(report: EvaluationReport) -> Figure? {
        guard let perImage = report.perImage, !report.attacks.isEmpty else { return nil }
        let panels = report.methods.compactMap { method -> Panel? in
            guard let byAttack = perImage[method] else { return nil }
            let series = report.attacks.enumerated().compactMap { i, attack -> Series? in
                guard let s = byAttack[attack], s.images.count > 1 else { return nil }
                let r = pearson(s.cosine, s.kendall)
                return Series(name: "\(method), \(attack): r = \(r.isFinite ? String(format: "%.2f", r) : "–") (n = \(s.images.count))",
                              points: Array(zip(s.cosine, s.kendall)), line: false, markers: true, color: i)
            }
            return series.isEmpty ? nil : Panel(title: method, xLabel: "cosine similarity (clean, attacked)",
                                                yLabel: "Kendall τ (clean, attacked)", series: series)
        }
        guard !panels.isEmpty else { return nil }
        var figure = Figure(title: "Kendall τ against cosine similarity per image, ε = \(String(format: "%g", report.epsilon * 255))/255",
                            panels: panels, columns: min(2, panels.count))
        figure.panelWidth = 520
        return figure
    }

    /// The Pearson r between cosine and Kendall τ over the images, per method × attack.
    public static func correlations(report: EvaluationReport) -> [String: [String: Double]] {
        (report.perImage ?? [:]).mapValues { $0.mapValues { pearson($0.cosine, $0.kendall) } }
    }
}
