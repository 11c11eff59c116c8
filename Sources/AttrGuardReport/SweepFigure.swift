/// Metric-versus-ε figures of an `eval` sweep, as the LENS paper plots them: one figure per
/// attribution method, a panel per metric, a line per attack.
public enum SweepFigure {
    public static let metrics = ["topk_intersection", "kendall", "lens_recall_w1", "topk_div_intersection_w1", "pearson", "ssim"]

    /// The figure of `method` from a report's sweep (nil when the report holds no sweep).
    public static func figure(report: EvaluationReport, method: String) -> Figure? {
        guard let sweep = report.sweep, sweep.count > 1 else { return nil }
        let panels = metrics.map { metric in
            Panel(title: metric, xLabel: "attack ε (/255)", yLabel: "mean over images", series: report.attacks.enumerated().map { i, attack in
                Series(name: attack, points: sweep.compactMap { entry in
                    entry.attributions[method]?[attack]?[metric]?.mean.map { (entry.epsilon255, $0) }
                }, markers: true, color: i)
            })
        }
        return Figure(title: "\(method): attribution robustness against the attack radius", panels: panels, columns: 3)
    }
}
