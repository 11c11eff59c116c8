import AttrGuardTestSupport
import Foundation
import Testing

/// A run never clobbers another's checkpoints or metrics, finds an unusable checkpoint.dir before
/// doing any work, and a resumed run's metrics hold each step once.
@Suite(.serialized) struct RunDirectoryTests {
    func config(_ dir: String, steps: Int, checkpointDir: String? = nil) -> String {
        """
        seed: 2
        model:
          name: layers
          layers:
            - {type: conv2d, in: 3, out: 4, kernel: 3, stride: 2, padding: 1}
            - {type: softplus, beta: 10}
            - {type: global_avgpool}
            - {type: flatten}
            - {type: linear, in: 4, out: 10}
        data: {dataset: synthetic, train_per_class: 8, test_per_class: 2}
        method: {name: standard}
        optim: {lr: 0.05}
        train: {epochs: 100, max_steps: \(steps), global_batch: 8, log_every: 1}
        checkpoint: {dir: \(checkpointDir ?? "\(dir)/checkpoints"), every: 10, keep: 5}
        log: {metrics: \(dir)/metrics.jsonl}
        """
    }

    @Test func aFreshRunRefusesAnotherRunsCheckpoints() throws {
        let dir = try temporaryDirectory()
        try config(dir, steps: 20).write(toFile: "\(dir)/c.yaml", atomically: true, encoding: .utf8)
        let (s1, o1) = try runAttrguard(["train", "--config", "\(dir)/c.yaml"])
        try #require(s1 == 0, "\(o1)")
        let before = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/checkpoints").sorted()
        let metrics = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/metrics.jsonl"))
        let (s2, o2) = try runAttrguard(["train", "--config", "\(dir)/c.yaml", "--set", "train.max_steps=12"])
        #expect(s2 == 1 && o2.contains("checkpoint.dir: holds an earlier run's checkpoints (newest: step 20)") && o2.contains("--resume"), "\(o2)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/checkpoints").sorted() == before)
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/metrics.jsonl")) == metrics)
    }

    @Test func anUnusableCheckpointDirStopsTheRunBeforeTheFirstStep() throws {
        let dir = try temporaryDirectory()
        FileManager.default.createFile(atPath: "\(dir)/afile", contents: Data("x".utf8))
        try config(dir, steps: 20, checkpointDir: "\(dir)/afile").write(toFile: "\(dir)/c.yaml", atomically: true, encoding: .utf8)
        let (s, o) = try runAttrguard(["train", "--config", "\(dir)/c.yaml"])
        #expect(s == 1 && o.contains("afile: checkpoint.dir is a file") && !o.contains("epoch 1 step"), "\(o)")
    }

    @Test func anUnusableMetricsPathStopsTheRunBeforeTheFirstStep() throws {
        let dir = try temporaryDirectory()
        FileManager.default.createFile(atPath: "\(dir)/afile", contents: Data("x".utf8))
        let text = config(dir, steps: 20).replacingOccurrences(of: "metrics: \(dir)/metrics.jsonl", with: "metrics: \(dir)/afile/metrics.jsonl")
        try text.write(toFile: "\(dir)/c.yaml", atomically: true, encoding: .utf8)
        let (s, o) = try runAttrguard(["train", "--config", "\(dir)/c.yaml"])
        #expect(s == 1 && o.contains("afile/metrics.jsonl: log.metrics: cannot create its directory") && !o.contains("epoch 1 step"), "\(o)")
    }

    @Test func resumingPastTheLastStepIsAnError() throws {
        let dir = try temporaryDirectory()
        try config(dir, steps: 20).write(toFile: "\(dir)/c.yaml", atomically: true, encoding: .utf8)
        let (s1, o1) = try runAttrguard(["train", "--config", "\(dir)/c.yaml"])
        try #require(s1 == 0, "\(o1)")
        let (s2, o2) = try runAttrguard(["train", "--config", "\(dir)/c.yaml", "--resume", "--set", "train.max_steps=12"])
        #expect(s2 == 1 && o2.contains("train.max_steps: the checkpoint is at step 20, past this run's last step 12"), "\(o2)")
    }

    @Test func stalePartialWritesAreClearedAndResumedMetricsHoldEachStepOnce() throws {
        let dir = try temporaryDirectory()
        try config(dir, steps: 30).write(toFile: "\(dir)/c.yaml", atomically: true, encoding: .utf8)
        let (s1, o1) = try runAttrguard(["train", "--config", "\(dir)/c.yaml", "--stop-after", "15"])
        try #require(s1 == 0, "\(o1)")
        // As if killed after logging steps 11–15 but before the step-15 checkpoint landed: a partial
        // write of a dead process remains beside step 10.
        try FileManager.default.removeItem(atPath: "\(dir)/checkpoints/step-00000015.ckpt")
        FileManager.default.createFile(atPath: "\(dir)/checkpoints/step-00000015.ckpt.tmp-999999", contents: Data(count: 100))
        let (s2, o2) = try runAttrguard(["train", "--config", "\(dir)/c.yaml", "--resume"])
        #expect(s2 == 0 && o2.contains("at step 10"), "\(o2)")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/checkpoints/step-00000015.ckpt.tmp-999999"))
        let steps = try String(contentsOfFile: "\(dir)/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap { line -> Int? in
            let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return o?["total"] != nil ? o?["step"] as? Int : nil
        }
        #expect(steps == Array(1...30))
    }

    @Test func checkpointsCarryAChecksumAndResumeSkipsADamagedNewestOne() throws {
        let dir = try temporaryDirectory()
        try config(dir, steps: 20).write(toFile: "\(dir)/c.yaml", atomically: true, encoding: .utf8)
        let (s1, o1) = try runAttrguard(["train", "--config", "\(dir)/c.yaml"])
        try #require(s1 == 0, "\(o1)")
        let newest = "\(dir)/checkpoints/step-00000020.ckpt"
        let good = try Data(contentsOf: URL(fileURLWithPath: newest))
        func exportStatus(_ bytes: Data, unchecked: Bool = false) throws -> (Int32, String) {
            try bytes.write(to: URL(fileURLWithPath: "\(dir)/x.ckpt"))
            return try runAttrguard(["export", "--checkpoint", "\(dir)/x.ckpt", "--out", "\(dir)/x.safetensors"]
                                    + (unchecked ? ["--allow-unchecked-checkpoint"] : []))
        }
        #expect(try exportStatus(good).0 == 0)
        // One flipped bit in the weights, and an edited step in the header: both caught.
        var flipped = good; flipped[flipped.count - 40] ^= 1
        let (sf, of) = try exportStatus(flipped)
        #expect(sf != 0 && of.contains("x.ckpt: checksum mismatch"), "\(of)")
        let text = String(decoding: good, as: UTF8.self)
        #expect(text.contains("\"step\":20"))
        var edited = good
        if let r = edited.range(of: Data("\"step\":20".utf8)) { edited.replaceSubrange(r, with: Data("\"step\":90".utf8)) }
        let (se, oe) = try exportStatus(edited)
        #expect(se != 0 && oe.contains("checksum mismatch"), "\(oe)")
        // A file without the trailer (written before it existed) reads only when asked to, unverified.
        #expect(try exportStatus(good.prefix(good.count - 16)).0 == 1)
        #expect(try exportStatus(good.prefix(good.count - 16), unchecked: true).0 == 0)
        // Its header length damaged to 2^64 − 1 (once a trap in Int()): named, not a crash.
        var huge = Data(good.prefix(good.count - 16)); huge.replaceSubrange(8..<16, with: Data(repeating: 0xFF, count: 8))
        let (sh, oh) = try exportStatus(huge, unchecked: true)
        #expect(sh == 1 && oh.contains("x.ckpt: truncated header"), "\(oh)")

        // The newest checkpoint cut short: --resume names it and continues from step 10.
        try good.prefix(good.count / 2).write(to: URL(fileURLWithPath: newest))
        let (s2, o2) = try runAttrguard(["train", "--config", "\(dir)/c.yaml", "--set", "train.max_steps=30", "--resume"])
        #expect(s2 == 0 && o2.contains("skipping") && o2.contains("step-00000020.ckpt") && o2.contains("at step 10"), "\(o2)")
        #expect(o2.contains("train: done after 30 steps"), "\(o2)")
    }
}
