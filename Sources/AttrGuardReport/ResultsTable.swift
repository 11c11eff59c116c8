import Foundation

/// One trained and evaluated model of a reproduction suite.
public struct ResultRow: Sendable {
    public var name: String
    /// `standard`, `gradnorm`, `l2cos`, `igr` or `pgd`.
    public var method: String
    /// The objective's weights by JSON key (`lambda`, or `lambda_l2` and `lambda_cos`); empty for standard/pgd.
    public var lambdas: [(key: String, value: Double)]
    /// Test accuracy on the whole test split at the end of training.
    public var accuracy: Double
    /// PGD accuracy on the evaluated test images.
    public var adversarialAccuracy: Double?
    /// attribution method → attack → metric → mean over the attributed (correctly classified)
    /// images: report.json's order (results.json nests attack first, as it always has).
    public var robustness: [String: [String: [String: Double]]]
    public var evalImages: Int?
    public var attributedImages: Int?
    public var trainSeconds: Double?
    public var evalSeconds: Double?
    public var imagesPerSecond: Double?
    public var steps: Int?

    public init(name: String, method: String, lambdas: [(key: String, value: Double)], accuracy: Double,
                adversarialAccuracy: Double? = nil, robustness: [String: [String: [String: Double]]] = [:]) {
        self.name = name; self.method = method; self.lambdas = lambdas; self.accuracy = accuracy
        self.adversarialAccuracy = adversarialAccuracy; self.robustness = robustness
    }

    /// The mean of `name` for attribution `method` under `attack`, if the run reported it.
    public func metric(_ attack: String, _ method: String, _ name: String) -> Double? { robustness[method]?[attack]?[name] }

    /// λ as people write it: "1", "0.3 / 0.3" (l2 / cos), "—".
    public var lambdaText: String {
        lambdas.isEmpty ? "—" : lambdas.map { shortNumber($0.value) }.joined(separator: " / ")
    }

    /// A row as `json` writes it (also what launch/reproduce_torch.py writes for a PyTorch run).
    public init(json j: [String: Any], file: String) throws {
        guard let name = j["name"] as? String, let method = j["method"] as? String,
              let accuracy = (j["accuracy"] as? NSNumber)?.doubleValue else {
            throw ReportError(file: file, "a results row needs \"name\", \"method\" and \"accuracy\"")
        }
        let lambdas = EvaluationReport.weightKeys.compactMap { k in (j[k] as? NSNumber).map { (key: k, value: $0.doubleValue) } }
        var robustness: [String: [String: [String: Double]]] = [:]
        for attack in ["topk", "random_sign"] {
            for (m, metrics) in j[attack] as? [String: [String: Any]] ?? [:] {
                for (metric, v) in metrics { if let d = (v as? NSNumber)?.doubleValue { robustness[m, default: [:]][attack, default: [:]][metric] = d } }
            }
        }
        self.init(name: name, method: method, lambdas: lambdas, accuracy: accuracy,
                  adversarialAccuracy: (j["adversarial_accuracy"] as? NSNumber)?.doubleValue, robustness: robustness)
        trainSeconds = (j["train_seconds"] as? NSNumber)?.doubleValue
        imagesPerSecond = (j["images_per_s"] as? NSNumber)?.doubleValue
        attributedImages = (j["attributed_images"] as? NSNumber)?.intValue
    }

    /// Rows from a JSON file holding one row or a list of rows.
    public static func load(_ path: String) throws -> [ResultRow] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ReportError(file: path, "cannot read the file") }
        let object = try? JSONSerialization.jsonObject(with: data)
        if let one = object as? [String: Any] { return [try ResultRow(json: one, file: path)] }
        guard let many = object as? [[String: Any]] else { throw ReportError(file: path, "not a JSON row or list of rows") }
        return try many.map { try ResultRow(json: $0, file: path) }
    }

    public var json: [String: Any] {
        var j: [String: Any] = ["name": name, "method": method, "accuracy": accuracy]
        for (k, v) in lambdas { j[k] = v }
        if let v = adversarialAccuracy { j["adversarial_accuracy"] = v }
        var byAttack: [String: [String: [String: Double]]] = [:]
        for (method, attacks) in robustness { for (attack, metrics) in attacks { byAttack[attack, default: [:]][method] = metrics } }
        for (attack, byMethod) in byAttack { j[attack] = byMethod }
        if let v = evalImages { j["eval_images"] = v }
        if let v = attributedImages { j["attributed_images"] = v }
        if let v = trainSeconds { j["train_seconds"] = v }
        if let v = evalSeconds { j["eval_seconds"] = v }
        if let v = imagesPerSecond { j["images_per_s"] = v }
        if let v = steps { j["steps"] = v }
        return j
    }
}

/// results.json (a list of rows) and results.md (the tables people read).
public enum ResultsTable {
    /// Methods in the order a reader compares them: the baseline first.
    static let methodOrder = ["standard", "gradnorm", "pgd", "l2cos", "igr"]

    /// Rows by method (standard first), then λ.
    public static func sorted(_ rows: [ResultRow]) -> [ResultRow] {
        rows.sorted { a, b in
            let ia = methodOrder.firstIndex(of: a.method) ?? methodOrder.count, ib = methodOrder.firstIndex(of: b.method) ?? methodOrder.count
            if ia != ib { return ia < ib }
            let la = a.lambdas.first?.value ?? 0, lb = b.lambdas.first?.value ?? 0
            return la != lb ? la < lb : a.name < b.name
        }
    }

    /// The rows as results.json.
    public static func json(_ rows: [ResultRow]) throws -> Data {
        try JSONSerialization.data(withJSONObject: sorted(rows).map(\.json), options: [.prettyPrinted, .sortedKeys])
    }

    /// The main table: accuracy and, under the top-k attack and the random-sign baseline, top-k
    /// intersection and Kendall τ of saliency and integrated gradients; then a LENS table.
    public static func markdown(_ rows: [ResultRow], title: String, notes: [String] = []) -> String {
        let rows = sorted(rows)
        func pct(_ v: Double?) -> String { v.map { String(format: "%.1f", 100 * $0) } ?? "—" }
        func num(_ v: Double?) -> String { v.map { String(format: "%.3f", $0) } ?? "—" }
        var md = "# \(title)\n\n"
        for n in notes { md += "\(n)\n" }
        if !notes.isEmpty { md += "\n" }
        md += "Attribution robustness under the top-k attack (ε = 8/255) and under random-sign noise of the same ε: "
            + "top-k intersection (∩) and Kendall τ between the map of the clean and of the perturbed image, mean over the "
            + "correctly classified evaluated images. Higher is more robust.\n\n"
        md += "| run | method | λ | accuracy % | PGD acc % | saliency ∩ (top-k) | saliency τ (top-k) | IG ∩ (top-k) | IG τ (top-k) "
            + "| saliency ∩ (random) | saliency τ (random) | IG ∩ (random) | IG τ (random) | train | img/s |\n"
        md += "|" + String(repeating: "---|", count: 15) + "\n"
        for r in rows {
            let cells = [r.name, r.method, r.lambdaText, pct(r.accuracy), pct(r.adversarialAccuracy),
                         num(r.metric("topk", "saliency", "topk_intersection")), num(r.metric("topk", "saliency", "kendall")),
                         num(r.metric("topk", "integrated_gradients", "topk_intersection")), num(r.metric("topk", "integrated_gradients", "kendall")),
                         num(r.metric("random_sign", "saliency", "topk_intersection")), num(r.metric("random_sign", "saliency", "kendall")),
                         num(r.metric("random_sign", "integrated_gradients", "topk_intersection")),
                         num(r.metric("random_sign", "integrated_gradients", "kendall")),
                         r.trainSeconds.map(durationText) ?? "—", r.imagesPerSecond.map { String(format: "%.0f", $0) } ?? "—"]
            md += "| " + cells.joined(separator: " | ") + " |\n"
        }
        md += "\nLENS (3×3 window) top-k intersection and Spearman ρ under the top-k attack:\n\n"
        md += "| run | saliency LENS ∩ | saliency ρ | IG LENS ∩ | IG ρ | attributed images |\n|---|---|---|---|---|---|\n"
        for r in rows {
            md += "| " + [r.name, num(r.metric("topk", "saliency", "lens_topk_intersection")), num(r.metric("topk", "saliency", "spearman")),
                          num(r.metric("topk", "integrated_gradients", "lens_topk_intersection")),
                          num(r.metric("topk", "integrated_gradients", "spearman")),
                          r.attributedImages.map(String.init) ?? "—"].joined(separator: " | ") + " |\n"
        }
        return md
    }

    /// The figures that must agree between two implementations of the same setting.
    public static let comparedFigures: [(attack: String, method: String, metric: String, label: String)] = [
        ("topk", "saliency", "topk_intersection", "saliency ∩ (top-k)"), ("topk", "saliency", "kendall", "saliency τ (top-k)"),
        ("topk", "integrated_gradients", "topk_intersection", "IG ∩ (top-k)"), ("topk", "integrated_gradients", "kendall", "IG τ (top-k)"),
        ("random_sign", "saliency", "topk_intersection", "saliency ∩ (random)"), ("random_sign", "saliency", "kendall", "saliency τ (random)"),
        ("random_sign", "integrated_gradients", "topk_intersection", "IG ∩ (random)"),
        ("random_sign", "integrated_gradients", "kendall", "IG τ (random)")]

    /// Each reference row (e.g. PyTorch's) beside our row of the same method and λ, with the differences.
    public static func comparison(_ rows: [ResultRow], reference: [ResultRow], referenceName: String = "PyTorch") -> String {
        func same(_ a: ResultRow, _ b: ResultRow) -> Bool {
            a.method == b.method && a.lambdas.count == b.lambdas.count
                && zip(a.lambdas, b.lambdas).allSatisfy { $0.key == $1.key && abs($0.value - $1.value) <= 1e-9 * max(1, abs($0.value)) }
        }
        var md = "| run | implementation | accuracy % | " + comparedFigures.map(\.label).joined(separator: " | ") + " | img/s |\n"
        md += "|" + String(repeating: "---|", count: comparedFigures.count + 4) + "\n"
        for r in sorted(reference) {
            guard let ours = rows.first(where: { same($0, r) }) else { continue }
            func cells(_ row: ResultRow) -> [String] {
                [String(format: "%.1f", 100 * row.accuracy)] + comparedFigures.map { f in row.metric(f.attack, f.method, f.metric).map { String(format: "%.3f", $0) } ?? "—" }
                    + [row.imagesPerSecond.map { String(format: "%.0f", $0) } ?? "—"]
            }
            let diff = [signed(100 * (ours.accuracy - r.accuracy), digits: 1)] + comparedFigures.map { f in
                guard let a = ours.metric(f.attack, f.method, f.metric), let b = r.metric(f.attack, f.method, f.metric) else { return "—" }
                return signed(a - b, digits: 3)
            } + [""]
            md += "| \(ours.name) | AttrGuard | " + cells(ours).joined(separator: " | ") + " |\n"
            md += "| \(ours.name) | \(referenceName) | " + cells(r).joined(separator: " | ") + " |\n"
            md += "| \(ours.name) | difference | " + diff.joined(separator: " | ") + " |\n"
        }
        return md
    }

    /// Accuracy against robustness, one point per run, a line through each method's λ sweep.
    public static func tradeoffFigure(_ rows: [ResultRow], title: String) -> Figure {
        let rows = sorted(rows)
        var methods: [String] = []
        for r in rows where !methods.contains(r.method) { methods.append(r.method) }
        let panels: [(String, String, String, String)] = [
            ("topk", "saliency", "topk_intersection", "Saliency: top-k intersection"), ("topk", "saliency", "kendall", "Saliency: Kendall τ"),
            ("topk", "integrated_gradients", "topk_intersection", "Integrated gradients: top-k intersection"),
            ("topk", "integrated_gradients", "kendall", "Integrated gradients: Kendall τ")]
        return Figure(title: title, panels: panels.map { attack, method, metric, panelTitle in
            Panel(title: panelTitle + " (top-k attack)", xLabel: "test accuracy (%)", yLabel: metric == "kendall" ? "Kendall τ" : "top-k intersection",
                  series: methods.enumerated().map { i, m in
                      let mine = rows.filter { $0.method == m }
                      return Series(name: m, points: mine.map { (100 * $0.accuracy, $0.metric(attack, method, metric) ?? .nan) },
                                    pointLabels: mine.map { $0.lambdas.isEmpty ? "" : "λ " + $0.lambdaText },
                                    line: mine.count > 1, markers: true, color: i)
                  })
        }, columns: 2)
    }
}

/// "+0.020", "-0.010"; a difference that rounds to zero is "+0.000", never "-0.000".
func signed(_ v: Double, digits: Int) -> String {
    let scale = pow(10, Double(digits)), r = (v * scale).rounded() / scale
    return String(format: "%+.\(digits)f", r == 0 ? 0 : r)
}

func shortNumber(_ v: Double) -> String {
    v == v.rounded() && abs(v) < 1e6 ? String(Int(v)) : String(format: "%g", v)
}

/// "4m07s", "1h02m"; "?" when unknown (a non-finite estimate).
public func durationText(_ s: Double) -> String {
    guard s.isFinite else { return "?" }
    let t = Int(s.rounded())
    return t >= 3600 ? String(format: "%dh%02dm", t / 3600, t % 3600 / 60) : String(format: "%dm%02ds", t / 60, t % 60)
}
