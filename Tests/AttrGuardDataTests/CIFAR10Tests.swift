import AttrGuardData
import Foundation
import AttrGuardTestSupport
import Testing

let sharedDatasets = sharedDirectory.appendingPathComponent("datasets")

@Suite struct CIFAR10Tests {
    @Test func realCIFAR10HasTheOfficialCounts() throws {
        let dir = sharedDatasets.appendingPathComponent("cifar-10-batches-bin").path
        guard FileManager.default.fileExists(atPath: dir) else {
            print("skipped: no CIFAR-10 copy at \(dir)")
            return
        }
        let train = try CIFAR10.load(directory: dir, split: .train)
        let test = try CIFAR10.load(directory: dir, split: .test)
        #expect(train.count == 50_000 && test.count == 10_000)
        #expect(train.classCounts == [Int](repeating: 5000, count: 10))
        #expect(test.classCounts == [Int](repeating: 1000, count: 10))
        #expect(train.classNames.first == "airplane")
        // The test split is exact: its per-channel means are CIFAR-10's published test-set means.
        let n = Double(test.count * 1024)
        for (c, expected) in [0.4942, 0.4851, 0.4504].enumerated() {
            var sum = 0.0
            for i in 0..<test.count { let p = test.pixels(i); for j in (c * 1024)..<((c + 1) * 1024) { sum += Double(p[j]) } }
            #expect(abs(sum / n / 255 - expected) < 2e-3)
        }
    }

    @Test func generatedDatasetRoundTripsThroughTheReader() throws {
        let dir = try temporaryDirectory()
        try SyntheticDataset.write(directory: dir, trainPerClass: 20, testPerClass: 5, seed: 1)
        let train = try CIFAR10.load(directory: dir, split: .train)
        let test = try CIFAR10.load(directory: dir, split: .test)
        #expect(train.count == 200 && test.count == 50)
        #expect(train.classCounts == [Int](repeating: 20, count: 10))
        #expect(train.classNames == SyntheticDataset.classNames)
        let again = SyntheticDataset.store(count: 200, seed: 1)
        #expect(Array(train.pixels(17)) == Array(again.pixels(17)) && train.labels == again.labels)
    }

    @Test func brokenFilesNameTheFileAndRecord() throws {
        let dir = try temporaryDirectory()
        try SyntheticDataset.write(directory: dir, trainPerClass: 10, testPerClass: 2, seed: 2)
        let file = (dir as NSString).appendingPathComponent("data_batch_3.bin")
        let original = try Data(contentsOf: URL(fileURLWithPath: file))
        #expect(original.count == 20 * CIFAR10.recordSize)

        try original.prefix(original.count - 100).write(to: URL(fileURLWithPath: file))
        #expect(throws: DataError(file: file, record: 19, "truncated: \(original.count - 100) bytes is 19 whole records of 3073 and 2973 bytes over")) {
            try CIFAR10.load(directory: dir, split: .train)
        }

        var badLabel = original
        badLabel[7 * CIFAR10.recordSize] = 12
        try badLabel.write(to: URL(fileURLWithPath: file))
        #expect(throws: DataError(file: file, record: 7, "label byte 12 is outside 0…9")) { try CIFAR10.load(directory: dir, split: .train) }

        try FileManager.default.removeItem(atPath: file)
        #expect(throws: DataError(file: file, "missing")) { try CIFAR10.load(directory: dir, split: .train) }
    }
}

@Suite struct EpochPlanTests {
    @Test(arguments: [1, 2, 3, 4])
    func everyRankCountCoversTheSameSamples(ranks: Int) throws {
        let plan = EpochPlan(count: 1000, globalBatch: 24, seed: 5, epoch: 3)
        let reference = EpochPlan(count: 1000, globalBatch: 24, seed: 5, epoch: 3)
        var seen: [Int] = []
        for step in 0..<plan.steps {
            var union: [Int] = []
            for r in 0..<ranks { union += try plan.localIndices(step: step, rank: r, size: ranks) }
            #expect(union == Array(reference.globalIndices(step: step)), "step \(step) with \(ranks) ranks")
            seen += union
        }
        #expect(plan.steps == 41)                         // 1000 / 24, the last 16 dropped on every rank
        #expect(Set(seen).count == seen.count && seen.count == 41 * 24)
        #expect(seen.sorted() == Array(reference.order.prefix(41 * 24)).sorted())
    }

    @Test func ordersDependOnSeedAndEpochOnly() throws {
        let a = EpochPlan(count: 500, globalBatch: 10, seed: 1, epoch: 0)
        #expect(a.order == EpochPlan(count: 500, globalBatch: 10, seed: 1, epoch: 0).order)
        #expect(a.order != EpochPlan(count: 500, globalBatch: 10, seed: 1, epoch: 1).order)
        #expect(a.order != EpochPlan(count: 500, globalBatch: 10, seed: 2, epoch: 0).order)
        #expect(a.order.sorted() == Array(0..<500))
        #expect(throws: DataError.self) { try a.localIndices(step: 0, rank: 0, size: 3) }
    }
}

@Suite struct BatchLoaderTests {
    /// One 1×2×3 image with pixels 0…5 (scaled by 51 so /255 gives 0, 0.2, …, 1).
    let store = ImageStore(pixels: (0..<6).map { UInt8($0 * 51) } + (0..<6).map { UInt8(255 - $0 * 51) },
                           labels: [0, 1], imageShape: [1, 2, 3], classNames: ["a", "b"])

    @Test func plainAndNormalisedPixels() throws {
        let plain = try BatchLoader(store: store).batch([1, 0], epoch: 0)
        #expect(plain.labels == [1, 0])
        #expect(plain.images.shape == [2, 1, 2, 3])
        #expect(plain.images.doubles.prefix(3).map { ($0 * 5).rounded() } == [5, 4, 3])
        let norm = try BatchLoader(store: store, normalization: ([0.5], [0.25])).batch([0], epoch: 0)
        #expect(abs(norm.images.doubles[5] - (1 - 0.5) / 0.25) < 1e-6)
    }

    @Test func cropFlipIsAShiftedOrMirroredCopyAndIndependentOfTheBatch() throws {
        let loader = BatchLoader(store: store, augmentation: .cropFlip(padding: 1), seed: 9)
        let original = [[0.0, 0.2, 0.4], [0.6, 0.8, 1.0]]
        for epoch in 0..<20 {
            let v = try loader.batch([0], epoch: epoch).images.doubles.map { ($0 * 5).rounded() / 5 }
            // some shift (dy, dx) in −1…1 of the image or its mirror, zeros outside
            let matches = [false, true].contains { flip in
                (-1...1).contains { dy in (-1...1).contains { dx in
                    (0..<2).allSatisfy { y in (0..<3).allSatisfy { x in
                        let sy = y + dy, sx = (flip ? 2 - x : x) + dx
                        let expected = (sy >= 0 && sy < 2 && sx >= 0 && sx < 3) ? original[sy][sx] : 0
                        return abs(v[y * 3 + x] - expected) < 1e-6
                    } }
                } }
            }
            #expect(matches, "epoch \(epoch): \(v)")
            // The same sample gets the same augmentation whatever else is in the batch.
            #expect(try loader.batch([1, 0], epoch: epoch).images.doubles.suffix(6) == loader.batch([0], epoch: epoch).images.doubles.prefix(6))
        }
    }
}
