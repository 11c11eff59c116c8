import Foundation

/// A results or metrics file that cannot be read or written, naming it.
public struct ReportError: Error, CustomStringConvertible {
    public let file: String
    public let message: String
    public init(file: String, _ message: String) { self.file = file; self.message = message }
    public var description: String { "\(file): \(message)" }
}

/// A training run's JSON-lines metrics (`log.metrics`): one record per log step (`step`, `lr`,
/// `images_per_s`, loss terms, `grad_norm`) and per evaluation (`step`, `test_accuracy`, …).
public struct MetricsFile: Sendable {
    public let path: String
    /// The numeric fields of every record, in file order.
    public let records: [[String: Double]]

    /// Reads every JSON line of `path`; a line that is not an object is an error naming its number.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ReportError(file: path, "cannot read the file")
        }
        self.path = path
        var records: [[String: Double]] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.allSatisfy(\.isWhitespace) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw ReportError(file: path, "line \(n + 1): not a JSON object")
            }
            var numbers: [String: Double] = [:]
            for (k, v) in object { if let d = (v as? NSNumber)?.doubleValue { numbers[k] = d } }
            guard numbers["step"] != nil else { throw ReportError(file: path, "line \(n + 1): no \"step\"") }
            records.append(numbers)
        }
        guard !records.isEmpty else { throw ReportError(file: path, "no records") }
        self.records = records
    }

    /// (step, value) of every record that has `key`; a resumed run's repeated steps keep the last.
    public func series(_ key: String) -> [(x: Double, y: Double)] {
        var byStep: [Double: Double] = [:], order: [Double] = []
        for r in records { if let v = r[key], let s = r["step"] { if byStep[s] == nil { order.append(s) }; byStep[s] = v } }
        return order.sorted().map { ($0, byStep[$0]!) }
    }

    /// Keys with at least one value, sorted.
    public var keys: [String] { Array(Set(records.flatMap(\.keys))).sorted() }

    /// The run's name for legends: the metrics file's folder (runs/NAME/metrics.jsonl → NAME).
    public var runName: String {
        let url = URL(fileURLWithPath: path)
        let base = url.deletingPathExtension().lastPathComponent
        return base == "metrics" ? url.deletingLastPathComponent().lastPathComponent : base
    }
}

/// Training curves: one panel per quantity, one line per run.
public enum TrainingCurves {
    /// The quantities plotted when none are asked for, in this order, where any run has them.
    public static let defaultKeys = ["total", "ce", "regularizer", "test_accuracy", "grad_norm", "lr"]

    static let titles = ["total": "Total loss", "ce": "Cross-entropy", "regularizer": "Regularizer (λ-weighted)",
                         "test_accuracy": "Test accuracy", "grad_norm": "Gradient norm ‖∇θ‖₂", "lr": "Learning rate",
                         "images_per_s": "Images / s", "l2_term": "l2 term", "cos_term": "Cosine term"]

    /// Training curves: a panel per key (loss terms, test accuracy, gradient norm, lr) against the step, a line per file.
    public static func figure(_ files: [MetricsFile], keys: [String]? = nil, title: String = "Training curves") -> Figure {
        let wanted = keys ?? defaultKeys.filter { k in files.contains { $0.series(k).count > 0 } }
        let panels = wanted.map { key in
            Panel(title: titles[key] ?? key, xLabel: "step", yLabel: key,
                  series: files.enumerated().map { i, f in
                      let pts = f.series(key)
                      return Series(name: f.runName, points: pts, markers: pts.count < 12, color: i)
                  })
        }
        return Figure(title: title, panels: panels, columns: panels.count > 4 ? 3 : 2)
    }
}
