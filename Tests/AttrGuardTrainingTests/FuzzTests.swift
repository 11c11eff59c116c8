import AttrGuardCore
import AttrGuardData
import AttrGuardNN
import AttrGuardTestSupport
import AttrGuardTraining
import Foundation
import Testing

/// Seeded mutants of every file format AttrGuard reads, through its reader: each mutant is either
/// read or rejected with an error. A trap would end this test process, a hang the deadline below.
/// FUZZ_MUTANTS sets the mutants per format (default 300; the long run uses 10000).
@Suite(.serialized) struct FuzzTests {
    static let mutants = Int(ProcessInfo.processInfo.environment["FUZZ_MUTANTS"] ?? "") ?? 300

    /// Byte-level damage: bit flips, boundary bytes, extreme 64-bit words (header counts and
    /// lengths), truncation, insertion and duplication.
    static func mutate(_ data: Data, _ rng: inout RandomStream) -> Data {
        var d = [UInt8](data)
        func at(_ n: Int) -> Int { d.isEmpty ? 0 : Int(rng.next() % UInt64(max(1, d.count - n + 1))) }
        for _ in 0..<(1 + Int(rng.next() % 3)) {
            switch rng.next() % 7 {
            case 0: for _ in 0..<(1 + Int(rng.next() % 8)) where !d.isEmpty { let i = at(1); d[i] ^= 1 << UInt8(rng.next() % 8) }
            case 1: if !d.isEmpty { let i = at(1); d[i] = [0x00, 0xFF, 0x7F, 0x80, 0x2D, 0x39][Int(rng.next() % 6)] }
            case 2:
                guard d.count >= 8 else { break }
                let words: [UInt64] = [.max, 0, 1 << 31, 1 << 32, 1 << 62, UInt64(bitPattern: -1), UInt64(bitPattern: -2), 0x7FFF_FFFF]
                let i = at(8), w = words[Int(rng.next() % UInt64(words.count))]
                for b in 0..<8 { d[i + b] = UInt8(truncatingIfNeeded: w >> (8 * UInt64(b))) }   // i computed first: no overlapping access
            case 3: d = Array(d.prefix(at(0)))
            case 4:
                let bytes = (0..<(1 + Int(rng.next() % 16))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, j = at(0)
                d.insert(contentsOf: bytes, at: j)
            case 5:
                guard !d.isEmpty else { break }
                let i = at(1), n = min(d.count - i, 1 + Int(rng.next() % 64)), j = at(0), chunk = Array(d[i..<(i + n)])
                d.insert(contentsOf: chunk, at: j)
            default:
                guard !d.isEmpty else { break }
                let i = at(1), end = min(d.count, i + 1 + Int(rng.next() % 8))
                d.removeSubrange(i..<end)
            }
        }
        return Data(d)
    }

    /// Text-level damage for YAML: numbers made huge, negative or non-numbers, punctuation
    /// inserted, keys cut.
    static func mutateText(_ text: String, _ rng: inout RandomStream) -> String {
        var t = Array(text)
        for _ in 0..<(1 + Int(rng.next() % 3)) {
            let i = t.isEmpty ? 0 : Int(rng.next() % UInt64(t.count))
            switch rng.next() % 6 {
            case 0: if let j = t[i...].firstIndex(where: \.isNumber) {
                t.insert(contentsOf: ["99999999999999999999", "-", "1e308", "0", "9223372036854775807", "nan", ".5"][Int(rng.next() % 7)], at: j)
            }
            case 1: t.insert(contentsOf: [":", "{", "}", "[", "-", "\n", "'", "#", "  "][Int(rng.next() % 9)], at: i)
            case 2: if !t.isEmpty { t.removeSubrange(i..<min(t.count, i + 1 + Int(rng.next() % 12))) }
            case 3: if let j = t[i...].firstIndex(where: \.isNumber) { t[j] = ["0", "9", "-", "x"][Int(rng.next() % 4)] }
            case 4: t = Array(t.prefix(i))
            default:
                // Anchors and aliases: new ones, references multiplied (toward an alias bomb), merges.
                let name = "a\(rng.next() % 4)"
                let token = ["&\(name) ", "*\(name)", "[*\(name), *\(name), *\(name), *\(name)]", "<<: *\(name)\n", "&\(name) [*\(name)]"][Int(rng.next() % 5)]
                t.insert(contentsOf: token, at: i)
            }
        }
        return String(t)
    }

    /// Runs `read` on `count` mutants of `original`, within a deadline; returns how many were
    /// accepted and how many rejected.
    func fuzz(_ name: String, seed: UInt64, count: Int = mutants, _ original: Data, textual: Bool = false,
              read: @escaping @Sendable (String) throws -> Void) throws -> (accepted: Int, rejected: Int) {
        let dir = try temporaryDirectory()
        let path = "\(dir)/mutant"
        let result = Locked((accepted: 0, rejected: 0, done: false))
        let clock = ContinuousClock(), start = clock.now
        let worker = Thread {
            var rng = RandomStream(seed: seed)
            for _ in 0..<count {
                let bytes = textual ? Data(Self.mutateText(String(decoding: original, as: UTF8.self), &rng).utf8) : Self.mutate(original, &rng)
                try? bytes.write(to: URL(fileURLWithPath: path))
                do { try read(path); result.update { $0.accepted += 1 } } catch { result.update { $0.rejected += 1 } }
            }
            result.update { $0.done = true }
        }
        worker.stackSize = 16 << 20
        worker.start()
        let deadline = Date().addingTimeInterval(Double(count) * 0.2 + 30)
        while !result.value.done && Date() < deadline { usleep(5_000) }
        let r = result.value
        print("fuzz \(name): \(count) mutants, \(r.accepted) read, \(r.rejected) rejected with an error, 0 crashes, in \(clock.now - start)")
        #expect(r.done, "\(name): a mutant hung (\(r.accepted + r.rejected) of \(count) finished before the deadline)")
        #expect(r.accepted + r.rejected == count)
        return (r.accepted, r.rejected)
    }

    /// A config, a checkpoint of it and its safetensors export, from a 2-step run.
    func trainedRun() throws -> (dir: String, config: String, network: Network) {
        let dir = try temporaryDirectory()
        let config = "\(dir)/c.yaml"
        try equivalenceConfig(method: "l2cos", directory: dir, steps: 2).write(toFile: config, atomically: true, encoding: .utf8)
        let (status, out) = try runAttrguard(["train", "--config", config])
        try #require(status == 0, "\(out)")
        let (s2, o2) = try runAttrguard(["export", "--checkpoint", "\(dir)/checkpoints", "--out", "\(dir)/model.safetensors"])
        try #require(s2 == 0, "\(o2)")
        let cfg = try TrainingConfig.load(path: config)
        return (dir, config, try Network(layers: cfg.layers, inputShape: cfg.inputShape))
    }

    @Test func checkpointsSafetensorsAndConfigs() throws {
        let run = try trainedRun()
        let network = run.network
        let checkpoint = try Data(contentsOf: URL(fileURLWithPath: Checkpoint.latest(in: "\(run.dir)/checkpoints")))
        let c = try fuzz("checkpoint", seed: 1, checkpoint) { _ = try Checkpoint.read($0, network: network) }
        #expect(c.rejected > Self.mutants / 2)   // the checksum turns away nearly every damaged file
        let safetensors = try Data(contentsOf: URL(fileURLWithPath: "\(run.dir)/model.safetensors"))
        _ = try fuzz("safetensors", seed: 2, safetensors) { path in
            _ = try Safetensors.read(path)
            _ = try Safetensors.load(path, network: network, dtype: .float32)
        }
        let config = try Data(contentsOf: URL(fileURLWithPath: run.config))
        _ = try fuzz("config", seed: 3, config, textual: true) { path in
            let cfg = try TrainingConfig.load(path: path)
            _ = try Network(layers: cfg.layers, inputShape: cfg.inputShape)
        }
    }

    /// YAML built on anchors and aliases (nested lists of references, merges), mutated: read or
    /// refused (an expansion past ConfigReader.maxNodes among them), never a hang.
    @Test func yamlAliases() throws {
        let dir = try temporaryDirectory()
        var yaml = equivalenceConfig(method: "l2cos", directory: dir, steps: 2)
            .replacingOccurrences(of: "optim: {lr: 0.05, momentum: 0.9, weight_decay: 5.0e-4}",
                                  with: "defaults: &a0 {lr: 0.05, momentum: 0.9}\noptim:\n  <<: *a0\n  weight_decay: 5.0e-4")
        yaml = "x0: &a1 [1, 2, 3, 4]\nx1: &a2 [*a1, *a1, *a1, *a1]\nx2: &a3 [*a2, *a2, *a2, *a2]\n" + yaml
        let r = try fuzz("yaml-aliases", seed: 7, Data(yaml.utf8), textual: true) { path in
            let cfg = try TrainingConfig.load(path: path)
            _ = try Network(layers: cfg.layers, inputShape: cfg.inputShape)
        }
        #expect(r.rejected > Self.mutants * 9 / 10)   // x0…x2 and defaults are unknown keys: nearly nothing is accepted
    }

    /// CIFAR-10 binary files (a batch file and the record-count list) of a small synthetic set, mutated.
    @Test func cifar10Files() throws {
        let dir = try temporaryDirectory()
        try SyntheticDataset.write(directory: dir, trainPerClass: 2, testPerClass: 1)
        let batch = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/data_batch_3.bin"))
        let counts = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(CIFAR10.recordCountsFile)"))
        @Sendable func restore() throws {
            try batch.write(to: URL(fileURLWithPath: "\(dir)/data_batch_3.bin"))
            try counts.write(to: URL(fileURLWithPath: "\(dir)/\(CIFAR10.recordCountsFile)"))
        }
        let b = try fuzz("cifar10-batch", seed: 8, batch) { path in
            try restore()
            _ = rename(path, "\(dir)/data_batch_3.bin")
            _ = try CIFAR10.load(directory: dir, split: .train)
        }
        #expect(b.rejected > 0)
        _ = try fuzz("cifar10-record-counts", seed: 9, counts, textual: true) { path in
            try restore()
            _ = rename(path, "\(dir)/\(CIFAR10.recordCountsFile)")
            _ = try CIFAR10.load(directory: dir, split: .train)
            _ = try CIFAR10.load(directory: dir, split: .test)
        }
    }

    /// What the fuzzers found: a YAML key that is a list (Yams' loader trapped on it) and a
    /// safetensors header length past Int.max (a trapping conversion).
    @Test func foundByFuzzing() throws {
        #expect(throws: ConfigError.self) { try TrainingConfig.parse(yaml: "? [a, b]\n: 1\n", file: "k.yaml") }
        let dir = try temporaryDirectory()
        try Data(repeating: 0xFF, count: 16).write(to: URL(fileURLWithPath: "\(dir)/h.safetensors"))
        #expect(throws: ModelFileError.self) { try Safetensors.read("\(dir)/h.safetensors") }
    }

    @Test func packedDataAndNPY() throws {
        let dir = try temporaryDirectory()
        try PackedDataset.write(SyntheticDataset.store(count: 20, seed: 4), to: "\(dir)/train.agpk")
        let packed = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/train.agpk"))
        _ = try fuzz("packed", seed: 5, packed) { _ = try PackedDataset.open($0, verifyPixels: true) }
        try NPY.write((0..<64).map { Float($0) * 0.25 - 3 }, shape: [8, 8], to: "\(dir)/map.npy")
        let npy = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/map.npy"))
        _ = try fuzz("npy", seed: 6, npy) { _ = try NPY.read($0) }
    }
}

/// A value shared between the fuzzing thread and the test's.
final class Locked<T>: @unchecked Sendable {
    private var stored: T
    private let lock = NSLock()
    init(_ value: T) { stored = value }
    var value: T { lock.withLock { stored } }
    func update(_ body: (inout T) -> Void) { lock.withLock { body(&stored) } }
}
