import AttrGuardCore
import AttrGuardData
import AttrGuardTools
import ArgumentParser
import Foundation

/// `attrguard data synth|check|pack|bench`.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Datasets: write the generated default, check CIFAR-10 or packed files, pack ImageNet folders, time the loader.",
        subcommands: [Synth.self, Check.self, Pack.self, Bench.self])

    struct Synth: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the generated default dataset (10 classes of drawn patterns, 32×32) in the CIFAR-10 binary format.")
        @Option(help: "Output directory.") var out: String
        @Option(help: "Training images per class.") var trainPerClass = 500
        @Option(help: "Test images per class.") var testPerClass = 100
        @Option(help: "Seed.") var seed: UInt64 = 0

        func validate() throws {
            try requireOption("--train-per-class", trainPerClass, in: 1...1_000_000)
            try requireOption("--test-per-class", testPerClass, in: 1...1_000_000)
        }

        func run() throws {
            try SyntheticDataset.write(directory: out, trainPerClass: trainPerClass, testPerClass: testPerClass, seed: seed)
            print("wrote \(trainPerClass * 10) training and \(testPerClass * 10) test images to \(out)")
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a CIFAR-10 binary directory or a packed file: counts per split and class; non-zero exit naming the file and record on errors.")
        @Option(name: .customLong("cifar10"), help: "CIFAR-10 binary directory.") var cifar10: String?
        @Option(help: "Packed dataset file (checks every checksum).") var packed: String?

        func validate() throws {
            guard (cifar10 == nil) != (packed == nil) else { throw ValidationError("give exactly one of --cifar10 DIR or --packed FILE") }
        }

        func run() throws {
            try reportingFailure("data check") {
                if let cifar10 {
                    for split in CIFAR10.Split.allCases {
                        report(split.rawValue, try CIFAR10.load(directory: cifar10, split: split))
                    }
                } else if let packed {
                    report(packed, try PackedDataset.open(packed, verifyPixels: true))
                }
            }
        }

        func report(_ name: String, _ store: ImageStore) {
            let perClass = zip(store.classNames, store.classCounts).map { "\($0)=\($1)" }.joined(separator: " ")
            print("\(name): \(store.count) images of \(store.imageShape), \(store.classes) classes: \(perClass)")
        }
    }

    struct Pack: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decode an ImageNet-layout folder (SPLIT/<wnid>/*.JPEG) once into a packed, memory-mappable file.")
        @Option(help: "Folder holding SPLIT/<wnid>/ directories.") var imagenet: String
        @Option(help: "Split sub-folder (train or val).") var split = "train"
        @Option(help: "Class list: one WordNet id per line.") var classes: String
        @Option(help: "Class index order: listed (line order) or sorted.") var order: ImageFolder.ClassOrder = .listed
        @Option(help: "Shorter side after resizing.") var resize = 256
        @Option(help: "Centre crop size.") var crop = 224
        @Option(help: "Output file.") var out: String

        func validate() throws {
            try requireOption("--resize", resize, in: 1...65_536)
            try requireOption("--crop", crop, in: 1...resize)
        }

        func run() throws {
            guard resize >= crop, crop > 0 else { throw ValidationError("--resize \(resize) must be at least --crop \(crop) > 0") }
            try reportingFailure("data pack") {
                let folder = try ImageFolder(root: imagenet, split: split, classList: classes, order: order)
                let start = ContinuousClock.now
                let store = try folder.load(resize: resize, crop: crop)
                try PackedDataset.write(store, to: out)
                let seconds = (ContinuousClock.now - start).seconds
                print("packed \(store.count) images of \(folder.classes.count) classes at \(crop)×\(crop) into \(out) in \(Int(seconds)) s")
            }
        }
    }

    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Images/s of the training loader (crop + flip augmentation, uint8 → float) on one core.")
        @Option(name: .customLong("cifar10"), help: "CIFAR-10 binary directory (default: generated data).") var cifar10: String?
        @Option(help: "Batch size.") var batch = 128
        @Option(help: "Batches to time.") var batches = 200

        func validate() throws {
            try requireOption("--batch", batch, in: 1...100_000)
            try requireOption("--batches", batches, in: 1...10_000_000)
        }

        func run() throws {
            let store = try cifar10.map { try CIFAR10.load(directory: $0, split: .train) } ?? SyntheticDataset.store(count: 5000, seed: 0)
            let (rate, checksum) = try LoaderBenchmark.run(store: store, batch: batch, batches: batches)
            print(String(format: "loader: %.0f images/s (%d batches of %d, crop+flip+normalise, 1 thread; checksum %.3f)",
                         rate, batches, batch, checksum))
        }
    }
}
