import AttrGuardCore
import AttrGuardTools
import AttrGuardTraining
import Foundation
import AttrGuardTestSupport
import Testing

let goldenDirectory = sharedDirectory.appendingPathComponent("golden")

func goldenFiles() -> [String] {
    let files = (try? FileManager.default.contentsOfDirectory(atPath: goldenDirectory.path)) ?? []
    return files.filter { $0.hasSuffix(".json") }.sorted().map { goldenDirectory.appendingPathComponent($0).path }
}

/// The project's own PyTorch float64 references for objectives the shared cases do not cover
/// (hessian, trades; written by Tests/scripts/make_golden.py), always present.
func projectGoldenFiles() -> [String] {
    let dir = repositoryRoot.appendingPathComponent("Tests/golden")
    let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
    return files.filter { $0.hasSuffix(".json") }.sorted().map { dir.appendingPathComponent($0).path }
}

@Suite struct GoldenTests {
    /// Hessian (a third derivative in its parameter gradient), TRADES, IG-NORM, IG-SUM-NORM, ART and IGR on top of TRADES on a plain and a
    /// batch-norm residual net, two seeds each, in both precisions.
    @Test(arguments: [DType.float64, .float32])
    func projectGoldenCasesPass(dtype: DType) throws {
        let files = projectGoldenFiles()
        #expect(files.count >= 24)
        var methods = Set<String>()
        for file in files {
            let c = try GoldenCase(contentsOf: file)
            methods.insert(c.objective.name)
            let results = try GoldenCheck.run(c, dtype: dtype)
            #expect(results.contains { $0.field.hasPrefix("regularizer_param_grads.") } && results.count > 15, "\(c.name)")
            let worst = results.max { $0.error < $1.error }!
            print("golden \(c.name) \(dtype): \(results.count) fields, worst \(worst.field) \(worst.error)")
            for r in results { #expect(r.passed, "\(c.name) \(r.field) error \(r.error) \(r.note)") }
        }
        #expect(methods.isSuperset(of: ["hessian", "trades", "ig_norm", "ig_sum_norm", "igr+trades", "art"]))
    }

    /// The shared PyTorch float64 references, in both precisions, every field within tolerance.
    @Test(arguments: [DType.float64, .float32])
    func sharedGoldenCasesPass(dtype: DType) throws {
        let files = goldenFiles()
        guard !files.isEmpty else {
            print("skipped: no golden cases at \(goldenDirectory.path)")
            return
        }
        for file in files {
            let c = try GoldenCase(contentsOf: file)
            let results = try GoldenCheck.run(c, dtype: dtype)
            #expect(results.contains { $0.field.hasPrefix("regularizer_param_grads.") }, "\(c.name) has double-backprop fields")
            let worst = results.max { $0.error < $1.error }!
            print("golden \(c.name) \(dtype): \(results.count) fields, worst \(worst.field) \(worst.error)")
            for r in results { #expect(r.passed, "\(c.name) \(r.field) error \(r.error) \(r.note)") }
        }
    }

    /// The same references in Float32 with every convolution on our Winograd kernels (on an
    /// AVX-512 host the default path runs oneDNN's, so this pins ours).
    @Test func sharedGoldenCasesPassOnOurWinograd() throws {
        let files = goldenFiles()
        guard !files.isEmpty, Winograd.isSupported else {
            print("skipped: no golden cases at \(goldenDirectory.path), or no AVX2+FMA")
            return
        }
        for file in files {
            let c = try GoldenCase(contentsOf: file)
            let results = try ConvolutionPath.$preferred.withValue(.winograd) { try GoldenCheck.run(c, dtype: .float32) }
            let worst = results.max { $0.error < $1.error }!
            print("golden \(c.name) float32 on our Winograd: \(results.count) fields, worst \(worst.field) \(worst.error)")
            for r in results { #expect(r.passed, "\(c.name) \(r.field) error \(r.error) \(r.note)") }
        }
    }

    @Test func theCommandPassesAndFailsOnATamperedCase() throws {
        guard let file = goldenFiles().first(where: { $0.hasSuffix("seq-softplus-l2cos.json") }) else {
            print("skipped: no golden cases at \(goldenDirectory.path)")
            return
        }
        let (ok, out) = try runAttrguard(["golden", file])
        #expect(ok == 0, "\(out)")
        #expect(out.contains("PASS seq-softplus-l2cos [float64]"))

        // Nudge one regularizer parameter gradient by 1e-6 relative: float64 must catch it.
        let dir = URL(fileURLWithPath: try temporaryDirectory())
        var root = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as! [String: Any]
        var expected = root["expected"] as! [String: Any]
        var reg = expected["regularizer_param_grads"] as! [String: Any]
        var w = reg["0.weight"] as! [String: Any]
        var data = w["data"] as! [Double]
        let scale = data.map(abs).max()!
        data[5] += 1e-6 * scale
        w["data"] = data; reg["0.weight"] = w; expected["regularizer_param_grads"] = reg; root["expected"] = expected
        let tampered = dir.appendingPathComponent("tampered.json")
        try JSONSerialization.data(withJSONObject: root).write(to: tampered)
        let (bad, badOut) = try runAttrguard(["golden", tampered.path])
        #expect(bad != 0)
        #expect(badOut.contains("FAIL seq-softplus-l2cos regularizer_param_grads.0.weight"), "\(badOut)")
        // float32's tolerance (1e-3) is meant to let this through.
        let (f32, _) = try runAttrguard(["golden", "--dtype", "float32", tampered.path])
        #expect(f32 == 0)
    }

    @Test func malformedCasesNameTheFileAndKey() throws {
        let dir = URL(fileURLWithPath: try temporaryDirectory())
        func write(_ name: String, _ object: [String: Any]) throws -> String {
            let url = dir.appendingPathComponent(name)
            try JSONSerialization.data(withJSONObject: object).write(to: url)
            return url.path
        }
        let base: [String: Any] = [
            "name": "tiny", "input_shape": [1, 2, 2], "classes": 2, "method": "gradnorm",
            "hparams": ["lambda": 1.0, "attribution_of": "loss"],
            "layers": [["type": "flatten"], ["type": "linear", "in": 4, "out": 2, "bias": true]],
            "params": ["1.weight": ["shape": [2, 4], "data": [0.1, 0.2, 0.3, 0.4, -0.1, -0.2, -0.3, -0.4]],
                       "1.bias": ["shape": [2], "data": [0.0, 0.1]]],
            "inputs": ["x": ["shape": [1, 1, 2, 2], "data": [0.1, 0.2, 0.3, 0.4]], "y": [1]],
            "expected": ["ce": 0.5],
        ]
        var unknownLayer = base
        unknownLayer["layers"] = [["type": "flatten"], ["type": "dense", "in": 4, "out": 2]]
        var wrongIn = base
        wrongIn["layers"] = [["type": "flatten"], ["type": "linear", "in": 5, "out": 2, "bias": true]]
        var missingParam = base
        missingParam["params"] = ["1.weight": (base["params"] as! [String: Any])["1.weight"]!]
        var badLabel = base
        badLabel["inputs"] = ["x": ["shape": [1, 1, 2, 2], "data": [0.1, 0.2, 0.3, 0.4]], "y": [7]]
        let cases: [(String, [String: Any], String)] = [
            ("unknown.json", unknownLayer, "layers[1].type: unknown layer type 'dense'"),
            ("wrongin.json", wrongIn, "layers[1].in: is 5 but the input has 4 features"),
            ("missing.json", missingParam, "1.bias: missing parameter"),
            ("label.json", badLabel, "inputs.y[0]: label 7 outside 0..<2"),
        ]
        for (name, object, message) in cases {
            let path = try write(name, object)
            let (status, out) = try runAttrguard(["golden", path])
            #expect(status != 0)
            #expect(out.contains(path) && out.contains(message), "\(name): \(out)")
        }
        let truncated = dir.appendingPathComponent("truncated.json")
        try Data("{\"name\": \"x\", \"layers\": [".utf8).write(to: truncated)
        let (status, out) = try runAttrguard(["golden", truncated.path])
        #expect(status != 0 && out.contains("truncated.json") && out.contains("not valid JSON"))
    }
}
