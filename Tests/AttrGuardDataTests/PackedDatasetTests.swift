import AttrGuardData
import AttrGuardTestSupport
import Foundation
import Testing

@Suite struct PackedDatasetTests {
    /// A small ImageNet-layout tree: 3 classes (2 listed), JPEGs of different sizes, one grey-ish.
    func makeTree() throws -> (root: String, classList: String) {
        let root = try temporaryDirectory()
        let ids = ["n01440764", "n01443537", "n09999999"]
        for (k, id) in ids.enumerated() {
            let dir = "\(root)/train/\(id)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for j in 0..<3 {
                let (w, h) = (40 + 13 * j, 30 + 7 * k)
                var planar = [UInt8](repeating: 0, count: 3 * w * h)
                for c in 0..<3 { for p in 0..<(w * h) { planar[c * w * h + p] = UInt8((p * (k + 1) + c * 60 + j * 20) % 256) } }
                try JPEGImage.encode(planar: planar, width: w, height: h).write(to: URL(fileURLWithPath: "\(dir)/img\(j).JPEG"))
            }
        }
        let list = "\(root)/classes.txt"
        try "# two of the three\nn01443537\nn01440764\n".write(toFile: list, atomically: true, encoding: .utf8)
        return (root, list)
    }

    @Test func folderScanDecodeAndPackRoundTrip() throws {
        let (root, list) = try makeTree()
        let folder = try ImageFolder(root: root, split: "train", classList: list)
        #expect(folder.classes == ["n01443537", "n01440764"])
        #expect(folder.entries.count == 6 && folder.entries.map(\.label) == [0, 0, 0, 1, 1, 1])
        let sorted = try ImageFolder(root: root, split: "train", classList: list, order: .sorted)
        #expect(sorted.classes == ["n01440764", "n01443537"] && sorted.entries.first!.label == 0)

        let store = try folder.load(resize: 24, crop: 20)
        #expect(store.count == 6 && store.imageShape == [3, 20, 20])
        let packed = (root as NSString).appendingPathComponent("train.pack")
        try PackedDataset.write(store, to: packed)
        let back = try PackedDataset.open(packed, verifyPixels: true)
        #expect(back.count == 6 && back.imageShape == [3, 20, 20] && back.labels == store.labels && back.classNames == store.classNames)
        for i in 0..<6 { #expect(Array(back.pixels(i)) == Array(store.pixels(i))) }
        // A decoded image keeps the source's values where the pattern is smooth: JPEG + resize stay close.
        #expect(store.pixels(0).contains { $0 > 0 })
    }

    @Test func corruptedPackedFilesAreRejected() throws {
        let (root, list) = try makeTree()
        let store = try ImageFolder(root: root, split: "train", classList: list).load(resize: 16, crop: 16)
        let path = (root as NSString).appendingPathComponent("x.pack")
        try PackedDataset.write(store, to: path)
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        func expectRejected(_ data: Data, _ message: String, verify: Bool = false) throws {
            try data.write(to: URL(fileURLWithPath: path))
            #expect(throws: DataError(file: path, message)) { try PackedDataset.open(path, verifyPixels: verify) }
        }
        var badMagic = good; badMagic[0] = 0x58
        try expectRejected(badMagic, "not a packed dataset (bad magic)")
        var badHeader = good; badHeader[17] ^= 0xFF                       // the image count
        try expectRejected(badHeader, "header checksum mismatch (corrupted header)")
        var badLabel = good; badLabel[64 + 5] ^= 0x01                     // inside the class names
        try expectRejected(badLabel, "class-name/label checksum mismatch")
        var badPixel = good; badPixel[good.count - 10] ^= 0x40
        try badPixel.write(to: URL(fileURLWithPath: path))
        #expect { try PackedDataset.open(path, verifyPixels: true) } throws: { error in
            ((error as? DataError)?.message.hasPrefix("pixel checksum mismatch in images ") ?? false) && (error as? DataError)?.record != nil
        }
        try expectRejected(good.prefix(good.count - 1), "size \(good.count - 1) bytes, the header describes \(good.count) (truncated or padded)")
        // Absurd sizes behind a valid header checksum (re-signed): an error, not an overflow trap.
        func resigned(_ edit: (inout Data) -> Void) -> Data {
            var d = good
            edit(&d)
            var c: UInt32 = 0xFFFF_FFFF   // CRC-32 (zlib's), bitwise
            for byte in d[16..<64] { c ^= UInt32(byte); for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 } }
            withUnsafeBytes(of: (~c).littleEndian) { d.replaceSubrange(12..<16, with: $0) }
            return d
        }
        let size = good.count
        try expectRejected(resigned { $0.replaceSubrange(16..<24, with: Data(repeating: 0x7F, count: 8)) },
                           "header describes 9187201950435737471 images of [3, 16, 16] and 19 bytes of names: more than the \(size)-byte file holds")
        try expectRejected(resigned { $0.replaceSubrange(24..<36, with: Data(repeating: 0xFF, count: 12)) },
                           "header describes 6 images of [4294967295, 4294967295, 4294967295] and 19 bytes of names: more than the \(size)-byte file holds")
    }

    /// A damaged pixel passes `open` (it checks header, names and labels) and is caught by the
    /// first batch that reads its chunk of 1024 images; batches from other chunks still load.
    @Test func aDamagedChunkFailsTheFirstBatchThatReadsIt() throws {
        let dir = try temporaryDirectory()
        let path = "\(dir)/train.pack"
        // Chunks 0..<1024, 1024..<2048, 2048..<2100 of 3×2×2 images.
        let store = ImageStore(pixels: (0..<(2100 * 12)).map { UInt8(truncatingIfNeeded: $0 &* 7) }, labels: (0..<2100).map { $0 % 3 },
                               imageShape: [3, 2, 2], classNames: ["a", "b", "c"])
        try PackedDataset.write(store, to: path)
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data[data.count - (2100 - 1500) * store.imageSize + 7] ^= 0x10        // a byte of image 1500
        try data.write(to: URL(fileURLWithPath: path))
        let packed = try PackedDataset.open(path)
        let loader = BatchLoader(store: packed)
        #expect(try loader.batch([0, 2099, 1023], epoch: 0).images.shape == [3, 3, 2, 2])
        #expect(throws: DataError(file: path, record: 1024, "pixel checksum mismatch in images 1024..<2048 (a damaged file: re-pack it)")) {
            try loader.batch([5, 1500], epoch: 0)
        }
        #expect(throws: DataError.self) { try packed.subset([1024]) }
        // `data check` (verifyPixels) names the damaged images too.
        #expect(throws: DataError(file: path, record: 1024, "pixel checksum mismatch in images 1024..<2048 (a damaged file: re-pack it)")) {
            try PackedDataset.open(path, verifyPixels: true)
        }
    }

    @Test func missingClassFoldersAndBadJPEGsAreNamed() throws {
        let (root, list) = try makeTree()
        let broken = "\(root)/train/n01440764/img1.JPEG"
        try Data("not a jpeg".utf8).write(to: URL(fileURLWithPath: broken))
        let folder = try ImageFolder(root: root, split: "train", classList: list)
        do { _ = try folder.load(resize: 16, crop: 16); Issue.record("a broken JPEG was accepted") } catch let e as DataError {
            #expect(e.file == broken && e.message.hasPrefix("not a readable JPEG"))
        }
        #expect(throws: DataError(file: "\(root)/val", "missing split folder")) { try ImageFolder(root: root, split: "val", classList: list) }
    }

    @Test func realImageNetSampleDecodes() throws {
        let root = sharedDatasets.appendingPathComponent("imagenet100-sample").path
        let list = sharedDatasets.appendingPathComponent("imagenet100-classes.txt").path
        guard FileManager.default.fileExists(atPath: root) else { print("skipped: no ImageNet sample at \(root)"); return }
        let folder = try ImageFolder(root: root, split: "val", classList: list)
        #expect(folder.classes.count == 100)
        let store = try folder.load(resize: 72, crop: 64)
        #expect(store.count == folder.entries.count && store.count >= 100)
        #expect(Set(store.labels).count >= 60)
    }
}
