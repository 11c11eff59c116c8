import AttrGuardCore
import Foundation

/// The CIFAR-10 binary format: each record is 1 label byte (0–9) then 3,072 pixel bytes
/// (red, green, blue planes of 32×32, row-major). Five training files and one test file.
public enum CIFAR10 {
    public static let recordSize = 3073
    public static let imageShape = [3, 32, 32]
    public static let trainFiles = (1...5).map { "data_batch_\($0).bin" }
    public static let testFiles = ["test_batch.bin"]
    public static let defaultClassNames = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    /// Per-channel mean and std of the training set (the values commonly used for normalisation).
    public static let mean = [0.4914, 0.4822, 0.4465]
    public static let std = [0.2470, 0.2435, 0.2616]

    public enum Split: String, Sendable, CaseIterable { case train, test }

    public static func files(_ split: Split) -> [String] { split == .train ? trainFiles : testFiles }

    /// Records in each file of the published dataset.
    public static let recordsPerFile = 10_000
    /// A directory of other counts (a subset, our synthetic set) lists them here, a line
    /// `FILE COUNT` per file; without it every file must hold `recordsPerFile`, so a file that lost
    /// or gained whole records (a bad copy, a concatenation) is caught, not trained on.
    public static let recordCountsFile = "record_counts.txt"

    /// The record count each file must hold: from `record_counts.txt` when present, else 10,000.
    public static func expectedCounts(directory: String) throws -> [String: Int] {
        let path = (directory as NSString).appendingPathComponent(recordCountsFile)
        guard FileManager.default.fileExists(atPath: path) else {
            return Dictionary(uniqueKeysWithValues: (trainFiles + testFiles).map { ($0, recordsPerFile) })
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw DataError(file: path, "cannot be read as UTF-8 text") }
        var counts: [String: Int] = [:]
        for (i, line) in text.split(whereSeparator: \.isNewline).enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 2, (trainFiles + testFiles).contains(String(parts[0])), let n = Int(parts[1]), n >= 1, n <= recordsPerFile else {
                throw DataError(file: path, record: i + 1, "expected 'FILE COUNT' with FILE one of the six batch files and COUNT in 1...\(recordsPerFile), got '\(line)'")
            }
            counts[String(parts[0])] = n
        }
        for name in trainFiles + testFiles where counts[name] == nil { throw DataError(file: path, "lists no count for \(name)") }
        return counts
    }

    /// Reads and validates a split: every file present with exactly its expected number of
    /// records (`expectedCounts`), labels in 0…9.
    public static func load(directory: String, split: Split) throws -> ImageStore {
        var pixels: [UInt8] = []
        var labels: [Int] = []
        let expected = try expectedCounts(directory: directory)
        for name in files(split) {
            let path = (directory as NSString).appendingPathComponent(name)
            let records = try readRecords(path)
            guard records.count == expected[name]! else {
                throw DataError(file: path, "holds \(records.count) records, expected \(expected[name]!) ("
                                + (expected[name]! == recordsPerFile ? "the published file's count; a subset lists its counts in \(recordCountsFile)"
                                   : "as \(recordCountsFile) lists") + ")")
            }
            pixels.reserveCapacity(pixels.count + records.count * 3072)
            records.data.withUnsafeBytes { raw in
                let bytes = raw.bindMemory(to: UInt8.self)
                for r in 0..<records.count {
                    labels.append(Int(bytes[r * recordSize]))
                    pixels.append(contentsOf: bytes[(r * recordSize + 1)..<((r + 1) * recordSize)])
                }
            }
        }
        return ImageStore(pixels: pixels, labels: labels, imageShape: imageShape, classNames: classNames(directory: directory))
    }

    /// One file's bytes after checking its size and every label byte.
    static func readRecords(_ path: String) throws -> (data: Data, count: Int) {
        guard FileManager.default.fileExists(atPath: path) else { throw DataError(file: path, "missing") }
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError(file: path, "cannot be read") }
        guard !data.isEmpty else { throw DataError(file: path, "is empty") }
        let count = data.count / recordSize, rest = data.count % recordSize
        if rest != 0 {
            throw DataError(file: path, record: count, "truncated: \(data.count) bytes is \(count) whole records of \(recordSize) and \(rest) bytes over")
        }
        try data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            for r in 0..<count where bytes[r * recordSize] > 9 {
                throw DataError(file: path, record: r, "label byte \(bytes[r * recordSize]) is outside 0…9")
            }
        }
        return (data, count)
    }

    /// Class names from batches.meta.txt when present (one per line), else the standard ten.
    static func classNames(directory: String) -> [String] {
        let meta = (directory as NSString).appendingPathComponent("batches.meta.txt")
        let names = ((try? String(contentsOfFile: meta, encoding: .utf8)) ?? "")
            .split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return names.count == 10 ? names : defaultClassNames
    }

    /// Writes images (uint8 [N,3,32,32] with labels 0–9) as CIFAR-10 binary records.
    public static func write(_ store: ImageStore, range: Range<Int>, to path: String) throws {
        require(store.imageShape == imageShape, "CIFAR-10 records hold 3×32×32 images, got \(store.imageShape)")
        var data = Data(capacity: range.count * recordSize)
        for i in range {
            data.append(UInt8(store.labels[i]))
            data.append(contentsOf: store.pixels(i))
        }
        try writeAtomically(data, to: path)
    }
}
