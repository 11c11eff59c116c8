import AttrGuardReport
import AttrGuardTestSupport
import AttrGuardTraining
import Foundation
import Testing

/// launch/reproduce.sh's pipeline at toy scale: train two methods with metrics logs, evaluate,
/// then `attrguard results` and `attrguard plot` on what the runs left.
@Suite(.serialized) struct ReproductionTests {
    func trainAndEvaluate(_ suite: String, name: String, method: [String]) throws {
        let run = "\(suite)/\(name)"
        let config = """
        seed: 3
        model:
          name: layers
          layers:
            - {type: conv2d, in: 3, out: 6, kernel: 3, stride: 1, padding: 1, bias: false}
            - {type: batchnorm2d, features: 6}
            - {type: softplus, beta: 10}
            - {type: maxpool2d, kernel: 4}
            - {type: flatten}
            - {type: linear, in: 384, out: 10}
        data: {dataset: synthetic, train_per_class: 16, test_per_class: 4}
        method: {name: standard}
        optim: {lr: 0.01}
        train: {epochs: 3, global_batch: 16, log_every: 2, eval_every: 5}
        checkpoint: {dir: \(run)/checkpoints}
        log: {metrics: \(run)/metrics.jsonl}
        """
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        try config.write(toFile: "\(run)/c.yaml", atomically: true, encoding: .utf8)
        let (s1, o1) = try runAttrguard(["train", "--config", "\(run)/c.yaml"] + method.flatMap { ["--set", $0] })
        try #require(s1 == 0, "\(o1)")
        try #"{"name": "\#(name)", "train_seconds": 12.5}"#.write(toFile: "\(run)/run.json", atomically: true, encoding: .utf8)
        let (s2, o2) = try runAttrguard(["eval", "--checkpoint", "\(run)/checkpoints", "--samples", "12", "--attack-iterations", "3",
                                         "--ig-steps", "4", "--k", "50", "--out", "\(run)/eval"])
        try #require(s2 == 0, "\(o2)")
    }

    @Test func resultsAndPlotsFromASuiteOfRuns() throws {
        let suite = try temporaryDirectory()
        try trainAndEvaluate(suite, name: "standard", method: [])
        try trainAndEvaluate(suite, name: "l2cos-2", method: ["method.name=l2cos", "method.lambda_l2=2", "method.lambda_cos=0.5"])

        // The gradient norm is logged every log step.
        let metrics = try MetricsFile(path: "\(suite)/l2cos-2/metrics.jsonl")
        let norms = metrics.series("grad_norm")
        #expect(norms.count == 15 && norms.allSatisfy { $0.y > 0 && $0.y.isFinite })
        #expect(metrics.series("test_accuracy").map(\.x) == [5, 10, 15, 20, 25, 30])

        // Reports carry the objective and count only correctly classified images.
        let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(suite)/l2cos-2/eval/report.json"))) as? [String: Any])
        #expect(report["method"] as? String == "l2cos" && report["lambda_l2"] as? Double == 2 && report["lambda_cos"] as? Double == 0.5)
        let attributed = try #require(report["attribution_images"] as? Int), accuracy = try #require(report["accuracy"] as? Double)
        #expect(attributed == Int((accuracy * 12).rounded()))

        let out = "\(suite)/out"
        let (s, o) = try runAttrguard(["results", suite, "--out", out, "--title", "Toy suite"])
        try #require(s == 0, "\(o)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/results.json"))) as? [[String: Any]])
        #expect(rows.map { $0["name"] as? String } == ["standard", "l2cos-2"])
        #expect(rows[1]["method"] as? String == "l2cos" && rows[1]["lambda_l2"] as? Double == 2 && rows[1]["train_seconds"] as? Double == 12.5)
        // accuracy is the training run's final test accuracy on the whole (generated) test split
        #expect(rows[0]["accuracy"] as? Double == (try metricsFile(suite, "standard")).series("test_accuracy").last?.y)
        for row in rows {
            for attack in ["topk", "random_sign"] {
                let byMethod = try #require(row[attack] as? [String: [String: Double]])
                for method in ["saliency", "integrated_gradients"] {
                    let v = try #require(byMethod[method]?["topk_intersection"]), tau = try #require(byMethod[method]?["kendall"])
                    #expect(v >= 0 && v <= 1 && tau >= -1 && tau <= 1)
                }
            }
        }
        let md = try String(contentsOfFile: "\(out)/results.md", encoding: .utf8)
        #expect(md.hasPrefix("# Toy suite") && md.contains("| l2cos-2 | l2cos | 2 / 0.5 |") && md.contains("| 0m13s |"))
        #expect(FileManager.default.fileExists(atPath: "\(out)/tradeoff.svg"))

        let (ps, po) = try runAttrguard(["plot", "\(suite)/standard/metrics.jsonl", "\(suite)/l2cos-2/metrics.jsonl", "--out", "\(out)/curves.svg"])
        try #require(ps == 0, "\(po)")
        let svg = try String(contentsOfFile: "\(out)/curves.svg", encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains(">l2cos-2</text>") && svg.contains(">Gradient norm ‖∇θ‖₂</text>"))

        // Bad input: named, non-zero, nothing written.
        let (bs, bo) = try runAttrguard(["plot", "\(suite)/missing.jsonl", "--out", "\(out)/bad.svg"])
        #expect(bs != 0 && bo.contains("missing.jsonl") && !FileManager.default.fileExists(atPath: "\(out)/bad.svg"))
        let (ks, ko) = try runAttrguard(["plot", "\(suite)/standard/metrics.jsonl", "--keys", "nope", "--out", "\(out)/bad.svg"])
        #expect(ks != 0 && ko.contains("nope"))
        let (es, eo) = try runAttrguard(["results", "\(suite)/out", "--out", "\(out)/again"])
        #expect(es != 0 && eo.contains("eval/report.json"))
    }

    func metricsFile(_ suite: String, _ name: String) throws -> MetricsFile { try MetricsFile(path: "\(suite)/\(name)/metrics.jsonl") }
}
