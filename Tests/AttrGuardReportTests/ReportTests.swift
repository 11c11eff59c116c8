import AttrGuardReport
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

/// Collects what the tests check in an SVG: that it parses as XML, the plot frames, and every
/// drawn point (polyline vertices and circle centres).
final class SVGScan: NSObject, XMLParserDelegate {
    var frames: [(x: Double, y: Double, w: Double, h: Double)] = []
    var points: [(Double, Double)] = []
    var polylines = 0, texts: [String] = [], elements = 0
    private var inText = false

    static func parse(_ svg: String) -> SVGScan? {
        let scan = SVGScan(), parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = scan
        return parser.parse() ? scan : nil
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes a: [String: String] = [:]) {
        elements += 1
        switch name {
        case "rect" where a["stroke"] != nil:
            frames.append((Double(a["x"]!)!, Double(a["y"]!)!, Double(a["width"]!)!, Double(a["height"]!)!))
        case "polyline":
            polylines += 1
            for pair in a["points"]!.split(separator: " ") {
                let xy = pair.split(separator: ",").map { Double($0)! }
                points.append((xy[0], xy[1]))
            }
        case "circle" where a["r"] == "5":   // data markers (legend markers are 4.5)
            points.append((Double(a["cx"]!)!, Double(a["cy"]!)!))
        case "text": inText = true; texts.append("")
        default: break
        }
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { if inText { texts[texts.count - 1] += string } }
    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) { if name == "text" { inText = false } }

    /// Whether every drawn point lies inside some plot frame.
    var pointsInsideFrames: Bool {
        points.allSatisfy { p in frames.contains { f in p.0 >= f.x - 0.1 && p.0 <= f.x + f.w + 0.1 && p.1 >= f.y - 0.1 && p.1 <= f.y + f.h + 0.1 } }
    }
}

func temporaryFile(_ name: String, _ text: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("attrguard-report-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let path = dir.appendingPathComponent(name).path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

@Suite struct ChartTests {
    @Test func axisEnclosesTheDataWithNiceTicks() {
        let a = Axis(enclosing: [0.173, 0.912, 0.55])
        #expect(a.low == 0.0 && a.high == 1.0 && abs(a.step - 0.2) < 1e-12)
        #expect(a.ticks.count == 6)
        let b = Axis(enclosing: [1248, 20, 640])
        #expect(b.low == 0 && b.high == 1500 && b.step == 500)
        #expect([1248.0, 20, 640].allSatisfy(b.contains))
        let c = Axis(enclosing: [2.5, 2.5])          // a constant series still gets a span
        #expect(c.low < 2.5 && c.high > 2.5)
        let d = Axis(enclosing: [-0.034, 0.0021])
        #expect(d.contains(-0.034) && d.contains(0.0021) && d.low < 0 && d.high > 0)
    }

    @Test func trainingCurvesFromMetricsFiles() throws {
        // Two runs; the second has no regularizer and logs test accuracy twice; a resumed step repeats.
        let a = try temporaryFile("metrics.jsonl", """
            {"step": 10, "epoch": 0, "lr": 0.05, "images_per_s": 400, "total": 2.3, "ce": 2.2, "regularizer": 0.1, "grad_norm": 4.0}
            {"step": 20, "epoch": 0, "lr": 0.04, "images_per_s": 410, "total": 1.9, "ce": 1.7, "regularizer": 0.2, "grad_norm": 3.0}
            {"step": 20, "epoch": 0, "lr": 0.04, "images_per_s": 410, "total": 1.8, "ce": 1.6, "regularizer": 0.2, "grad_norm": 3.0}
            {"step": 30, "epoch": 1, "lr": 0.01, "images_per_s": 405, "total": 1.2, "ce": 1.1, "regularizer": 0.1, "grad_norm": 2.5}
            {"step": 30, "epoch": 1, "test_accuracy": 0.61}

            """)
        let b = try temporaryFile("metrics.jsonl", """
            {"step": 15, "lr": 0.05, "total": 2.1, "ce": 2.1, "grad_norm": 7.5}
            {"step": 15, "test_accuracy": 0.35}
            {"step": 45, "lr": 0.001, "total": 0.8, "ce": 0.8, "grad_norm": 1.5}
            {"step": 45, "test_accuracy": 0.72}
            """)
        let files = [try MetricsFile(path: a), try MetricsFile(path: b)]
        #expect(files[0].series("total").map(\.y) == [2.3, 1.8, 1.2])   // the repeated step keeps its last value
        let figure = TrainingCurves.figure(files)
        #expect(figure.panels.map(\.title) == ["Total loss", "Cross-entropy", "Regularizer (λ-weighted)", "Test accuracy",
                                               "Gradient norm ‖∇θ‖₂", "Learning rate"])
        for panel in figure.panels {
            for s in panel.series { for p in s.points { #expect(panel.xAxis.contains(p.x) && panel.yAxis.contains(p.y)) } }
        }
        let ce = figure.panels[1]
        #expect(ce.yAxis.low <= 0.8 && ce.yAxis.high >= 2.2 && ce.xAxis.high >= 45)
        let svg = figure.svg()
        let scan = try #require(SVGScan.parse(svg))
        #expect(scan.frames.count == 6)
        #expect(scan.polylines >= 10)                    // 2 runs × 6 panels, less the second run's missing regularizer
        #expect(scan.pointsInsideFrames)
        #expect(scan.texts.contains("Test accuracy") && scan.texts.contains("step") && scan.texts.contains("Training curves"))
        // The legend names each run by its folder.
        let folders = [a, b].map { URL(fileURLWithPath: $0).deletingLastPathComponent().lastPathComponent }
        #expect(folders.allSatisfy(scan.texts.contains))
    }

    @Test func badMetricsFilesNameTheFileAndLine() throws {
        let path = try temporaryFile("broken.jsonl", "{\"step\": 1, \"total\": 2}\n{\"step\": 2, \"tot\n")
        do { _ = try MetricsFile(path: path); Issue.record("accepted a broken line") } catch let e as ReportError {
            #expect(e.description.contains("broken.jsonl") && e.description.contains("line 2"))
        }
        let noStep = try temporaryFile("nostep.jsonl", "{\"total\": 2}\n")
        #expect(throws: ReportError.self) { try MetricsFile(path: noStep) }
        #expect(throws: ReportError.self) { try MetricsFile(path: "/nonexistent/metrics.jsonl") }
    }

    @Test func escapesText() throws {
        let f = Figure(title: "a < b & \"c\"", panels: [Panel(title: "x>y", xLabel: "s", yLabel: "v", series: [Series(name: "<run>", points: [(1, 2), (2, 3)])])])
        let scan = try #require(SVGScan.parse(f.svg()))
        #expect(scan.texts.contains("a < b & \"c\"") && scan.texts.contains("<run>"))
    }
}

@Suite struct ResultsTableTests {
    func rows() -> [ResultRow] {
        func robust(_ sal: Double, _ ig: Double) -> [String: [String: [String: Double]]] {
            ["saliency": ["topk": ["topk_intersection": sal, "kendall": sal + 0.1, "lens_topk_intersection": sal + 0.2, "spearman": sal + 0.15],
                          "random_sign": ["topk_intersection": 0.9, "kendall": 0.8]],
             "integrated_gradients": ["topk": ["topk_intersection": ig, "kendall": ig + 0.1]]]
        }
        var l2cos3 = ResultRow(name: "l2cos-3", method: "l2cos", lambdas: [("lambda_l2", 3), ("lambda_cos", 3)], accuracy: 0.581,
                               adversarialAccuracy: 0.05, robustness: robust(0.62, 0.7))
        l2cos3.trainSeconds = 372.4; l2cos3.imagesPerSecond = 648.2; l2cos3.attributedImages = 580
        return [
            l2cos3,
            ResultRow(name: "standard", method: "standard", lambdas: [], accuracy: 0.6788, adversarialAccuracy: 0.002, robustness: robust(0.2, 0.5)),
            ResultRow(name: "l2cos-0.3", method: "l2cos", lambdas: [("lambda_l2", 0.3), ("lambda_cos", 0.3)], accuracy: 0.65, robustness: robust(0.45, 0.6)),
            ResultRow(name: "igr-10", method: "igr", lambdas: [("lambda", 10)], accuracy: 0.6, robustness: robust(0.5, 0.8)),
        ]
    }

    @Test func jsonRowsCarryMethodLambdaAccuracyAndMetricsPerAttackAndMethod() throws {
        let parsed = try #require(try JSONSerialization.jsonObject(with: ResultsTable.json(rows())) as? [[String: Any]])
        #expect(parsed.map { $0["name"] as? String } == ["standard", "l2cos-0.3", "l2cos-3", "igr-10"])   // baseline first, λ ascending
        let l2cos = parsed[2]
        #expect(l2cos["method"] as? String == "l2cos" && l2cos["lambda_l2"] as? Double == 3 && l2cos["lambda_cos"] as? Double == 3)
        #expect(l2cos["accuracy"] as? Double == 0.581 && l2cos["train_seconds"] as? Double == 372.4)
        let topk = try #require(l2cos["topk"] as? [String: [String: Double]])
        #expect(topk["saliency"]?["topk_intersection"] == 0.62 && abs(topk["integrated_gradients"]!["kendall"]! - 0.8) < 1e-12)
        #expect((parsed[3]["lambda"] as? Double) == 10 && parsed[0]["lambda"] == nil)
    }

    @Test func markdownTableHasOneLinePerRunInOrder() {
        let md = ResultsTable.markdown(rows(), title: "Small suite", notes: ["note line"])
        let lines = md.split(separator: "\n").map(String.init)
        let table = lines.filter { $0.hasPrefix("| ") && !$0.hasPrefix("| run") }
        #expect(table.count == 8)                        // 4 runs in each of the two tables
        #expect(table[0].hasPrefix("| standard | standard | — | 67.9 | 0.2 | 0.200 | 0.300 | 0.500 | 0.600 | 0.900 | 0.800 | — | — | — | — |"))
        #expect(table[2].contains("| l2cos-3 | l2cos | 3 / 3 | 58.1 | 5.0 | 0.620 |") && table[2].hasSuffix("| 6m12s | 648 |"))
        #expect(table[1].contains("| 0.3 / 0.3 |"))
        #expect(table[6].hasPrefix("| l2cos-3 | 0.820 | 0.770 | — | — | 580 |"))
        #expect(md.hasPrefix("# Small suite\n\nnote line\n"))
    }

    @Test func tradeoffPlotHasAPointPerRunInsideItsAxes() throws {
        let figure = ResultsTable.tradeoffFigure(rows(), title: "trade-off")
        #expect(figure.panels.count == 4)
        let first = figure.panels[0]
        #expect(first.series.map(\.name) == ["standard", "l2cos", "igr"])
        #expect(zip(first.series[1].points.map(\.x), [65, 58.1]).allSatisfy { abs($0 - $1) < 1e-9 })
        #expect(first.series[1].points.map(\.y) == [0.45, 0.62])
        #expect(first.xAxis.contains(58.1) && first.xAxis.contains(67.88) && first.yAxis.contains(0.2) && first.yAxis.contains(0.62))
        let scan = try #require(SVGScan.parse(figure.svg()))
        #expect(scan.pointsInsideFrames)
        #expect(scan.texts.contains("λ 3 / 3") && scan.texts.contains("test accuracy (%)"))
    }

    @Test func referenceRowsAreTabledBesideOursWithDifferences() throws {
        // A PyTorch row as launch/reproduce_torch.py writes it.
        let path = try temporaryFile("torch-l2cos.json", """
            {"name": "torch-l2cos", "method": "l2cos", "lambda_l2": 3.0, "lambda_cos": 3.0, "accuracy": 0.59, "images_per_s": 300,
             "topk": {"saliency": {"topk_intersection": 0.6, "kendall": 0.7}, "integrated_gradients": {"topk_intersection": 0.71, "kendall": 0.8}},
             "random_sign": {"saliency": {"topk_intersection": 0.88, "kendall": 0.8}}}
            """)
        let reference = try ResultRow.load(path)
        #expect(reference.count == 1 && reference[0].metric("topk", "integrated_gradients", "topk_intersection") == 0.71)
        let md = ResultsTable.comparison(rows(), reference: reference)
        let lines = md.split(separator: "\n").map(String.init)
        #expect(lines.count == 5)                         // header, rule, ours, theirs, difference
        #expect(lines[2].hasPrefix("| l2cos-3 | AttrGuard | 58.1 | 0.620 | 0.720 | 0.700 | 0.800 | 0.900 | 0.800 |"))
        #expect(lines[3].hasPrefix("| l2cos-3 | PyTorch | 59.0 | 0.600 | 0.700 | 0.710 | 0.800 | 0.880 | 0.800 | — | — | 300 |"))
        #expect(lines[4].hasPrefix("| l2cos-3 | difference | -0.9 | +0.020 | +0.020 | -0.010 | +0.000 | +0.020 | +0.000 | — | — |"))
        // A reference with no matching run (another λ) is left out; a file without the keys is named.
        var other = reference[0]; other.lambdas = [("lambda_l2", 7), ("lambda_cos", 7)]
        #expect(ResultsTable.comparison(rows(), reference: [other]).split(separator: "\n").count == 2)
        let bad = try temporaryFile("bad.json", "{\"method\": \"l2cos\"}")
        #expect(throws: ReportError.self) { try ResultRow.load(bad) }
        // Round trip through results.json.
        let back = try ResultRow.load(try temporaryFile("rows.json", String(decoding: try ResultsTable.json(rows()), as: UTF8.self)))
        #expect(back.map(\.name) == ["standard", "l2cos-0.3", "l2cos-3", "igr-10"] && back[2].trainSeconds == 372.4)
    }
}
