import AttrGuardCore
import AttrGuardData
import AttrGuardNN
import Foundation

/// Everything needed to continue a run exactly: weights, optimizer momentum, batch-norm
/// running statistics, the step (which fixes the epoch, the data position, the learning rate
/// and every random draw, all derived from (seed, step, sample)), the seed, the world size and
/// the config.
///
/// File: "AGCKPT\0\0", u64 length of a JSON header, the header, the tensors' raw bytes
/// (little-endian) in the header's order, then a trailer "AGCRC\0\0\0" + u64 crc32 of every byte before
/// the trailer (a flipped bit, an edited header or swapped tensors fail it). Written to a temporary
/// file, synced and renamed. The header's `version` is `formatVersion`; files without the trailer
/// (written before it existed, or cut short) are refused unless the reader is told to accept them
/// unverified (`allowUnchecked`, the CLI's --allow-unchecked-checkpoint). A file named
/// `step-N.ckpt` must hold step N (a renamed or swapped file is refused).
public struct Checkpoint {
    public var step: Int
    public var seed: UInt64
    /// Ranks of the run that wrote it (a resume may use another count).
    public var worldSize: Int
    /// The effective YAML of the run (eval and export read the model from it).
    public var configText: String
    public var parameters: ParameterSet
    /// Optimizer state by name (`velocity`, or `exp_avg`/`exp_avg_sq`) and its step count.
    public var optimizerBuffers: [String: Tensor]
    /// Steps the optimizer has taken (AdamW's bias correction).
    public var optimizerSteps: Int
    /// Batch-norm running statistics by layer name, averaged over ranks.
    public var statistics: [String: RunningStatistic]

    static let magic = Array("AGCKPT".utf8) + [0, 0]
    static let trailerMagic = Array("AGCRC".utf8) + [0, 0, 0]
    /// 2: the header names its version (files before it have none and, when they also lack the
    /// trailer, are format 1).
    static let formatVersion = 2

    struct Header: Codable {
        var version: Int?
        var step: Int
        var seed: UInt64
        var worldSize: Int
        var optimizerSteps: Int
        var dtype: String
        var config: String
        var parameterNames: [String]
        var parameterShapes: [[Int]]
        /// name, element count — in file order after the header.
        var tensors: [TensorEntry]
    }

    struct TensorEntry: Codable { var name: String; var count: Int }

    public init(step: Int, seed: UInt64, worldSize: Int, configText: String, parameters: ParameterSet,
                optimizerBuffers: [String: Tensor], optimizerSteps: Int, statistics: [String: RunningStatistic]) {
        self.step = step; self.seed = seed; self.worldSize = worldSize; self.configText = configText
        self.parameters = parameters; self.optimizerBuffers = optimizerBuffers; self.optimizerSteps = optimizerSteps
        self.statistics = statistics
    }

    /// `step-00000123.ckpt`: names sort by step.
    public static func fileName(step: Int) -> String { String(format: "step-%08d.ckpt", step) }

    /// The checkpoint of `step` in `directory`.
    public static func path(directory: String, step: Int) -> String {
        (directory as NSString).appendingPathComponent(fileName(step: step))
    }

    /// Writes `step-N.ckpt` atomically (temporary file, fsync, rename) and keeps the newest `keep`.
    public func write(directory: String, keep: Int) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var tensors: [(String, Tensor)] = [("parameters", parameters.flat)]
        for name in optimizerBuffers.keys.sorted() { tensors.append(("optimizer.\(name)", optimizerBuffers[name]!)) }
        for name in statistics.keys.sorted() {
            tensors.append(("\(name).running_mean", statistics[name]!.mean))
            tensors.append(("\(name).running_var", statistics[name]!.variance))
        }
        let header = Header(version: Checkpoint.formatVersion, step: step, seed: seed, worldSize: worldSize, optimizerSteps: optimizerSteps, dtype: parameters.dtype.rawValue, config: configText,
                            parameterNames: parameters.names, parameterShapes: parameters.specs.map(\.shape),
                            tensors: tensors.map { TensorEntry(name: $0.0, count: $0.1.count) })
        // Keys sorted: the same state gives the same bytes in every process (a resumed run's
        // checkpoint is byte-identical to an uninterrupted run's).
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = try encoder.encode(header)
        var data = Data(Checkpoint.magic)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for (_, t) in tensors { data.append(Data(bytes: t.rawPointer, count: t.count * t.dtype.byteSize)) }
        let crc = CRC32.of(data)
        data.append(contentsOf: Checkpoint.trailerMagic)
        withUnsafeBytes(of: UInt64(crc).littleEndian) { data.append(contentsOf: $0) }
        try writeAtomically(data, to: Checkpoint.path(directory: directory, step: step))
        // Keep the newest `keep` checkpoints.
        for old in try Checkpoint.list(directory: directory).dropLast(keep) {
            try? FileManager.default.removeItem(atPath: Checkpoint.path(directory: directory, step: old))
        }
    }

    /// Clears `directory` (already created, probed writable and locked by the run's
    /// `RunDirectoryLock`) of temporary files that writers killed mid-write left behind (their
    /// process is gone).
    public static func clearStaleTemporaries(directory: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix("step-") {
            guard let r = name.range(of: ".ckpt.tmp-"), let pid = Int32(name[r.upperBound...]) else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name)) }
        }
    }

    /// The step a checkpoint file name stands for: exactly `fileName(step:)`'s spelling, so a stray
    /// `step-+0000099.ckpt` or `step-000000099.ckpt` is no checkpoint (it would name another file).
    public static func step(ofFileName name: String) -> Int? {
        guard name.hasPrefix("step-"), name.hasSuffix(".ckpt") else { return nil }
        let digits = name.dropFirst(5).dropLast(5)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let step = Int(digits), fileName(step: step) == name else { return nil }
        return step
    }

    /// Steps of the checkpoints in `directory`, oldest first.
    public static func list(directory: String) throws -> [Int] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).compactMap(step(ofFileName:)).sorted()
    }

    /// The newest checkpoint in `directory` (a file path is accepted too).
    public static func latest(in path: String) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw ModelFileError(file: path, "no such checkpoint or directory") }
        if !isDir.boolValue { return path }
        guard let step = try list(directory: path).last else { throw ModelFileError(file: path, "holds no checkpoint (step-*.ckpt)") }
        return Checkpoint.path(directory: path, step: step)
    }

    /// The file's bytes before the trailer, checked: a regular file (a directory, pipe or device
    /// is refused before it is opened: a pipe would block), the magic, and the crc32 trailer
    /// (required unless `allowUnchecked`).
    static func verifiedContents(_ path: String, allowUnchecked: Bool) throws -> Data {
        var st = stat()
        guard stat(path, &st) == 0 else { throw ModelFileError(file: path, "cannot be read: \(String(cString: strerror(errno)))") }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw ModelFileError(file: path, "is a directory, not a checkpoint file")
        default: throw ModelFileError(file: path, "is a device, pipe or socket, not a checkpoint file")
        }
        guard var data = FileManager.default.contents(atPath: path) else {
            throw ModelFileError(file: path, "cannot be read: \(String(cString: strerror(errno)))")
        }
        guard data.count >= 16, Array(data.prefix(8)) == magic else { throw ModelFileError(file: path, "not an AttrGuard checkpoint (bad magic)") }
        if data.count >= 32, Array(data[(data.count - 16)..<(data.count - 8)]) == trailerMagic {
            let stored = data[(data.count - 8)...].withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
            data = data.prefix(data.count - 16)
            guard UInt64(CRC32.of(data)) == stored else { throw ModelFileError(file: path, "checksum mismatch: the file is damaged or was edited") }
        } else if !allowUnchecked {
            throw ModelFileError(file: path, "no checksum trailer: the file was cut short, damaged at its end, or written by a version before "
                                 + "checksums; --allow-unchecked-checkpoint reads it unverified")
        }
        return data
    }

    /// The JSON header of verified checkpoint bytes and where it ends; a newer format is refused.
    static func header(of data: Data, file path: String) throws -> (Header, end: Int) {
        let headerBytes = try declaredHeader(data[8..<16], at: 8, available: UInt64(data.count - 16), file: path)
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: data[headerBytes]) } catch {
            throw ModelFileError(file: path, "unreadable header (\(error))")
        }
        if let version = header.version, version > formatVersion {
            throw ModelFileError(file: path, "checkpoint format \(version) is newer than this AttrGuard reads (\(formatVersion)); update AttrGuard")
        }
        return (header, headerBytes.upperBound)
    }

    /// The config a checkpoint was trained with (its YAML), read without knowing the network.
    public static func configText(_ path: String, allowUnchecked: Bool = false) throws -> String {
        try header(of: verifiedContents(path, allowUnchecked: allowUnchecked), file: path).0.config
    }

    /// Reads a checkpoint for `network`; a checkpoint of another architecture is an error naming the first difference.
    public static func read(_ path: String, network: Network, allowUnchecked: Bool = false) throws -> Checkpoint {
        let data = try verifiedContents(path, allowUnchecked: allowUnchecked)
        let (header, headerEnd) = try header(of: data, file: path)
        if let named = step(ofFileName: (path as NSString).lastPathComponent), named != header.step {
            throw ModelFileError(file: path, "the file name says step \(named), its header step \(header.step): renamed or swapped; "
                                 + "refusing to resume or evaluate from it")
        }
        guard let dtype = DType(rawValue: header.dtype) else { throw ModelFileError(file: path, "unknown dtype \(header.dtype)") }
        let expected = network.parameterSpecs
        if header.parameterNames != expected.map(\.name) || header.parameterShapes != expected.map(\.shape) {
            let i = zip(header.parameterNames, expected.map(\.name)).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                ?? zip(header.parameterShapes, expected.map(\.shape)).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                ?? min(header.parameterNames.count, expected.count)
            let theirs = i < header.parameterNames.count ? "\(header.parameterNames[i]) \(header.parameterShapes[i])" : "nothing"
            let ours = i < expected.count ? "\(expected[i].name) \(expected[i].shape)" : "nothing"
            throw ModelFileError(file: path, "another architecture: parameter \(i) is \(theirs) in the checkpoint, \(ours) in the network "
                            + "(\(header.parameterNames.count) vs \(expected.count) parameters)")
        }
        var offset = headerEnd
        var tensors: [String: Tensor] = [:]
        for entry in header.tensors {
            guard entry.count >= 0, entry.count <= (data.count - offset) / dtype.byteSize else {
                throw ModelFileError(file: path, "truncated: tensor \(entry.name) declares \(entry.count) values")
            }
            let bytes = entry.count * dtype.byteSize
            guard offset + bytes <= data.count else { throw ModelFileError(file: path, "truncated: tensor \(entry.name) is cut short") }
            let t = Tensor(zeros: [entry.count], dtype: dtype)
            data[offset..<(offset + bytes)].withUnsafeBytes { t.rawPointer.copyMemory(from: $0.baseAddress!, byteCount: bytes) }
            tensors[entry.name] = t
            offset += bytes
        }
        guard offset == data.count else { throw ModelFileError(file: path, "\(data.count - offset) unexpected bytes at the end") }
        guard let flat = tensors["parameters"], flat.count == network.parameterCount else { throw ModelFileError(file: path, "no parameter tensor") }
        var values: [String: Tensor] = [:]
        var at = 0
        for spec in expected {
            let n = Shape.count(spec.shape)
            values[spec.name] = Tensor(storage: flat.storage, shape: spec.shape, offset: at)
            at += n
        }
        let parameters = try ParameterSet(network: network, values: values, dtype: dtype, source: path)
        var statistics: [String: RunningStatistic] = [:]
        for (name, features) in network.batchNormLayers {
            guard let m = tensors["\(name).running_mean"], let v = tensors["\(name).running_var"], m.count == features, v.count == features else {
                throw ModelFileError(file: path, "missing running statistics of batch norm \(name)")
            }
            statistics[name] = RunningStatistic(mean: m.reshaped([features]), variance: v.reshaped([features]))
        }
        var buffers: [String: Tensor] = [:]
        for (name, t) in tensors where name.hasPrefix("optimizer.") { buffers[String(name.dropFirst(10))] = t }
        return Checkpoint(step: header.step, seed: header.seed, worldSize: header.worldSize, configText: header.config,
                          parameters: parameters, optimizerBuffers: buffers, optimizerSteps: header.optimizerSteps, statistics: statistics)
    }
}
