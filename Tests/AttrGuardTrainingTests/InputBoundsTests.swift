import AttrGuardTestSupport
import Foundation
import Testing

/// Numeric inputs that used to trap (division by zero, negative ranges, Int(1e30), allocations of
/// 2^63 steps) now stop with a message naming the option or key, and a plain non-zero exit.
@Suite struct InputBoundsTests {
    @Test(arguments: [
        (["eval", "--checkpoint", "x", "--batch", "0"], "--batch"),
        (["eval", "--checkpoint", "x", "--ig-steps", "0"], "--ig-steps"),
        (["eval", "--checkpoint", "x", "--smoothgrad-samples", "0"], "--smoothgrad-samples"),
        (["eval", "--checkpoint", "x", "--attack-iterations=-1"], "--attack-iterations"),
        (["data", "bench", "--batch", "0"], "--batch"),
        (["data", "synth", "--out", "/nonexistent/x", "--train-per-class=-1"], "--train-per-class"),
        (["bench", "step", "--batch", "0"], "--batch"),
        (["bench", "objectives", "--steps", "0"], "--steps"),
        (["allreduce-check", "--count=-1"], "--count"),
    ])
    func commandLineBounds(arguments: [String], option: String) throws {
        let (status, out) = try runAttrguard(arguments, timeout: 60)
        #expect(status == 64 && out.contains("\(option): "), "\(arguments): \(status) \(out)")
    }

    @Test(arguments: [
        ("train.epochs=9223372036854775807", "train.epochs: must be at most"),
        ("train.bucket_mb=1e300", "train.bucket_mb: must be at most"),
        ("train.global_batch=100000000", "train.global_batch: must be at most"),
    ])
    func configBounds(override: String, message: String) throws {
        let dir = try temporaryDirectory()
        let quickstart = repositoryRoot.appendingPathComponent("configs/quickstart.yaml").path
        let (status, out) = try runAttrguard(["train", "--config", quickstart, "--set", override, "--set", "checkpoint.dir=\(dir)/c"], timeout: 60)
        #expect(status == 1 && out.contains(message), "\(override): \(status) \(out)")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/c"))
    }

    @Test func igStepsAndLayerSizesAreBounded() throws {
        let dir = try temporaryDirectory()
        let quickstart = repositoryRoot.appendingPathComponent("configs/quickstart.yaml").path
        // quickstart is l2cos: its λ keys would be named first under igr, so the method block is replaced.
        let (s1, o1) = try runAttrguard(["train", "--config", quickstart, "--set", "method={name: igr, lambda: 1, ig_steps: 100000000}",
                                         "--set", "checkpoint.dir=\(dir)/c"], timeout: 60)
        #expect(s1 == 1 && o1.contains("method.ig_steps: must be at most 1000"), "\(o1)")
        for (out, message) in [("1e30", "model.layers[0].out: expected an integer"), ("5000000", "model.layers[0].out: must be at most")] {
            let yaml = """
            model: {name: layers, layers: [{type: conv2d, in: 3, out: \(out), kernel: 3}]}
            data: {dataset: synthetic}
            method: {name: standard}
            optim: {lr: 0.1}
            """
            try yaml.write(toFile: "\(dir)/big.yaml", atomically: true, encoding: .utf8)
            let (s, o) = try runAttrguard(["train", "--config", "\(dir)/big.yaml"], timeout: 60)
            #expect(s == 1 && o.contains(message), "\(out): \(s) \(o)")
        }
    }
}
