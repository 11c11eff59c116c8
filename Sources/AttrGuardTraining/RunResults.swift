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
        let report = try decode(StoredReport.self, reportPath)
        var method = report.method
        var lambdas = report.lambdas
        if method == nil, let checkpoint = report.checkpoint {
            // Reports written before they carried the objective: the checkpoint stores the config.
            let config = try TrainingConfig.parse(yaml: Checkpoint.configText(checkpoint), file: "\(checkpoint) (stored config)")
            method = config.objective.name
            lambdas = config.objective.weights.map { (key: $0.key.rawValue, value: $0.value) }
        }
        guard let method else { throw ReportError(file: reportPath, "no \"method\" and no readable \"checkpoint\"") }
        guard let evalAccuracy = report.accuracy else { throw ReportError(file: reportPath, "no \"accuracy\"") }

        // The means of report.json's [method][attack][metric] table.
        let robustness = (report.attributions ?? [:]).mapValues { $0.mapValues { $0.compactMapValues(\.mean) } }
        let metricsPath = "\(directory)/metrics.jsonl"
        let metrics = FileManager.default.fileExists(atPath: metricsPath) ? try MetricsFile(path: metricsPath) : nil
        let accuracy = metrics?.series("test_accuracy").last?.y ?? evalAccuracy
        var row = ResultRow(name: URL(fileURLWithPath: directory).lastPathComponent, method: method, lambdas: lambdas, accuracy: accuracy,
                            adversarialAccuracy: report.adversarialAccuracy, robustness: robustness)
        row.evalImages = report.samples
        row.attributedImages = report.attributionImages
        row.evalSeconds = report.seconds
        if let m = metrics {
            // The median logged rate: robust to the first window's start-up and to evaluation pauses.
            let rates = m.series("images_per_s").map(\.y).sorted()
            if !rates.isEmpty { row.imagesPerSecond = rates[rates.count / 2] }
            row.steps = m.records.compactMap { $0["step"] }.max().map(Int.init)
        }
        if FileManager.default.fileExists(atPath: "\(directory)/run.json") {
            row.trainSeconds = try decode(RunRecord.self, "\(directory)/run.json").trainSeconds
        }
        return row
    }

    /// The fields of report.json a results row needs, under EvaluationReport's keys, each optional:
    /// reports written before a field existed still read (the oldest carry no `method`; their
    /// checkpoint's stored config names it).
    struct StoredReport: Decodable {
        var method: String?, checkpoint: String?
        var lambdas: [(key: String, value: Double)]
        var accuracy: Double?, adversarialAccuracy: Double?, seconds: Double?
        var samples: Int?, attributionImages: Int?
        var attributions: AttributionTable?

        init(from decoder: Decoder) throws {
            typealias Key = EvaluationReport.CodingKeys
            let c = try decoder.container(keyedBy: Key.self)
            method = try c.decodeIfPresent(String.self, forKey: .method)
            checkpoint = try c.decodeIfPresent(String.self, forKey: .checkpoint)
            lambdas = try EvaluationReport.weightKeys.compactMap { name in
                try c.decodeIfPresent(Double.self, forKey: Key(stringValue: name)!).map { (key: name, value: $0) }
            }
            accuracy = try c.decodeIfPresent(Double.self, forKey: .accuracy)
            adversarialAccuracy = try c.decodeIfPresent(Double.self, forKey: .adversarialAccuracy)
            seconds = try c.decodeIfPresent(Double.self, forKey: .seconds)
            samples = try c.decodeIfPresent(Int.self, forKey: .samples)
            attributionImages = try c.decodeIfPresent(Int.self, forKey: .attributionImages)
            attributions = try c.decodeIfPresent(AttributionTable.self, forKey: .attributions)
        }
    }

    /// run.json, as launch/reproduce.sh writes it.
    struct RunRecord: Decodable {
        var trainSeconds: Double?
        enum CodingKeys: String, CodingKey { case trainSeconds = "train_seconds" }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ path: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else { throw ReportError(file: path, "cannot read the file") }
        do { return try JSONDecoder().decode(type, from: data) } catch let e as DecodingError {
            switch e {
            case .dataCorrupted(let context) where context.codingPath.isEmpty: throw ReportError(file: path, "not a JSON object")
            case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context), .dataCorrupted(let context):
                let key = context.codingPath.map(\.stringValue).joined(separator: ".")
                throw ReportError(file: path, "\(key.isEmpty ? "the top level" : "\"\(key)\"") is not what it should be: \(context.debugDescription)")
            @unknown default: throw ReportError(file: path, "\(e)")
            }
        }
    }
}
