import AttrGuardCore
import Foundation

/// The embedded default dataset: `SyntheticImages` at 32×32 in the CIFAR-10 binary format, so
/// every CIFAR code path (reader, checks, training) runs on a fresh machine with no download.
public enum SyntheticDataset {
    public static let classNames = (0..<10).map { "pattern-\($0)" }

    /// Writes data_batch_1…5.bin (train), test_batch.bin, their record_counts.txt and batches.meta.txt into `directory`.
    public static func write(directory: String, trainPerClass: Int = 500, testPerClass: Int = 100, seed: UInt64 = 0) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let train = store(count: trainPerClass * 10, seed: seed)
        let test = store(count: testPerClass * 10, seed: seed &+ 0x7E57)
        let perFile = (train.count + 4) / 5
        var counts: [String] = []
        for (k, name) in CIFAR10.trainFiles.enumerated() {
            let range = (k * perFile)..<min(train.count, (k + 1) * perFile)
            try CIFAR10.write(train, range: range, to: (directory as NSString).appendingPathComponent(name))
            counts.append("\(name) \(range.count)")
        }
        try CIFAR10.write(test, range: 0..<test.count, to: (directory as NSString).appendingPathComponent(CIFAR10.testFiles[0]))
        counts.append("\(CIFAR10.testFiles[0]) \(test.count)")
        try writeAtomically(Data((counts.joined(separator: "\n") + "\n").utf8),
                            to: (directory as NSString).appendingPathComponent(CIFAR10.recordCountsFile))
        try writeAtomically(Data((classNames.joined(separator: "\n") + "\n").utf8),
                            to: (directory as NSString).appendingPathComponent("batches.meta.txt"))
    }

    /// `count` images quantised to uint8, classes interleaved (image i has class i mod 10).
    public static func store(count: Int, seed: UInt64) -> ImageStore {
        let (images, labels) = SyntheticImages.generate(count: count, classes: 10, size: 32, seed: seed)
        let pixels = images.floats.map { UInt8(($0 * 255).rounded()) }
        return ImageStore(pixels: pixels, labels: labels, imageShape: CIFAR10.imageShape, classNames: classNames)
    }
}
