import AttrGuardReport
import Foundation

/// Reads what a reproduction run left in its folder into a results row:
///   NAME/eval/report.json   `attrguard eval` (method and λ, accuracies, robustness means)
///   NAME/metrics.jsonl      the training log (final test accuracy on the whole split, images/s, steps)
///   NAME/run.json           written by launch/reproduce.sh (training wall time), optional
public enum RunResults {
    /// Every subfolder of `suite` with an eval/report.json, or `suite` itself if it is one run.
    public static func rows(suite: String) throws -> [ResultRow] {
        let fm = FileManager.default
        if fm.fileExists(atPath: "\(suite)/eval/report.json") { return [try row(directory: suite)] }
        guard let names = try? fm.contentsOfDirectory(atPath: suite) else { throw ReportError(file: suite, "not a readable folder") }
        let runs = names.sorted().map { "\(suite)/\($0)" }.filter { fm.fileExists(atPath: "\($0)/eval/report.json") }
        guard !runs.isEmpty else { throw ReportError(file: suite, "no run folder holding eval/report.json (run attrguard eval --out RUN/eval)") }
        return try runs.map(row(directory:))
    }

    /// One run folder's results row.
    public static func row(directory: String) throws -> ResultRow {
        let reportPath = "\(directory)/eval/report.json"
        let report = try jsonObject(reportPath)
        var method = report["method"] as? String
        var lambdas = ["lambda", "lambda_l2", "lambda_cos"].compactMap { k in (report[k] as? NSNumber).map { (key: k, value: $0.doubleValue) } }
        if method == nil, let checkpoint = report["checkpoint"] as? String {
            // Reports written before they carried the objective: the checkpoint stores the config.
            let config = try TrainingConfig.parse(yaml: Checkpoint.configText(checkpoint), file: "\(checkpoint) (stored config)")
            method = config.objective.name
            lambdas = config.objective.weights
        }
        guard let method else { throw ReportError(file: reportPath, "no \"method\" and no readable \"checkpoint\"") }
        guard let evalAccuracy = (report["accuracy"] as? NSNumber)?.doubleValue else { throw ReportError(file: reportPath, "no \"accuracy\"") }

        var robustness: [String: [String: [String: Double]]] = [:]
        for (attributionMethod, byAttack) in report["attributions"] as? [String: [String: [String: [String: Any]]]] ?? [:] {
            for (attack, metrics) in byAttack {
                for (metric, stats) in metrics {
                    if let mean = (stats["mean"] as? NSNumber)?.doubleValue { robustness[attack, default: [:]][attributionMethod, default: [:]][metric] = mean }
                }
            }
        }
        let metricsPath = "\(directory)/metrics.jsonl"
        let metrics = FileManager.default.fileExists(atPath: metricsPath) ? try MetricsFile(path: metricsPath) : nil
        let accuracy = metrics?.series("test_accuracy").last?.y ?? evalAccuracy
        var row = ResultRow(name: URL(fileURLWithPath: directory).lastPathComponent, method: method, lambdas: lambdas, accuracy: accuracy,
                            adversarialAccuracy: (report["adversarial_accuracy"] as? NSNumber)?.doubleValue, robustness: robustness)
        row.evalImages = (report["samples"] as? NSNumber)?.intValue
        row.attributedImages = (report["attribution_images"] as? NSNumber)?.intValue
        row.evalSeconds = (report["seconds"] as? NSNumber)?.doubleValue
        if let m = metrics {
            // The median logged rate: robust to the first window's start-up and to evaluation pauses.
            let rates = m.series("images_per_s").map(\.y).sorted()
            if !rates.isEmpty { row.imagesPerSecond = rates[rates.count / 2] }
            row.steps = m.records.compactMap { $0["step"] }.max().map(Int.init)
        }
        if FileManager.default.fileExists(atPath: "\(directory)/run.json") {
            row.trainSeconds = (try jsonObject("\(directory)/run.json")["train_seconds"] as? NSNumber)?.doubleValue
        }
        return row
    }

    static func jsonObject(_ path: String) throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ReportError(file: path, "cannot read the file") }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw ReportError(file: path, "not a JSON object") }
        return object
    }
}
