import AttrGuardCore
import Foundation

/// Labelled uint8 images, [N, C, H, W] row-major, in memory or memory-mapped from a packed
/// file. Pixels stay uint8 (CIFAR-10's 50,000 training images are 150 MB) and become floats
/// per batch in `BatchLoader`.
public struct ImageStore: @unchecked Sendable {
    public let count: Int
    /// [C, H, W] of one image.
    public let imageShape: [Int]
    public let labels: [Int]
    public let classNames: [String]
    /// First pixel of image 0; valid while `owner` lives.
    let base: UnsafePointer<UInt8>
    private let owner: AnyObject
    /// A packed file's per-chunk pixel checksums (nil for images already in memory).
    private let checks: ChunkChecks?

    public var imageSize: Int { imageShape.reduce(1, *) }
    public var classes: Int { classNames.count }

    /// Pixels owned in memory.
    public init(pixels: [UInt8], labels: [Int], imageShape: [Int], classNames: [String]) {
        require(pixels.count == labels.count * imageShape.reduce(1, *),
                "ImageStore: \(pixels.count) pixels for \(labels.count) images of \(imageShape)")
        let buffer = PixelBuffer(pixels)
        self.init(base: UnsafePointer(buffer.pointer), labels: labels, imageShape: imageShape, classNames: classNames, owner: buffer)
    }

    init(base: UnsafePointer<UInt8>, labels: [Int], imageShape: [Int], classNames: [String], owner: AnyObject,
         checks: ChunkChecks? = nil) {
        self.checks = checks
        self.base = base
        self.count = labels.count
        self.labels = labels
        self.imageShape = imageShape
        self.classNames = classNames
        self.owner = owner
    }

    /// Checks the stored checksums of the images at `indices` (memory-mapped packed files: each
    /// chunk once, the first time it is read); an error names the file and the images.
    public func verify(_ indices: [Int]) throws {
        try checks?.verify(indices)
    }

    /// Image i's pixels, [C, H, W] (see `verify`).
    public func pixels(_ i: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: base + i * imageSize, count: imageSize)
    }

    /// Images per class.
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: classes)
        for y in labels where y >= 0 && y < classes { counts[y] += 1 }
        return counts
    }

    /// The images at `indices`, copied into a new in-memory store (a subset or a shard).
    public func subset(_ indices: [Int]) throws -> ImageStore {
        try verify(indices)
        var pixels = [UInt8](repeating: 0, count: indices.count * imageSize)
        pixels.withUnsafeMutableBufferPointer { out in
            for (j, i) in indices.enumerated() {
                (out.baseAddress! + j * imageSize).update(from: base + i * imageSize, count: imageSize)
            }
        }
        return ImageStore(pixels: pixels, labels: indices.map { labels[$0] }, imageShape: imageShape, classNames: classNames)
    }
}

/// Owns an in-memory pixel array at a stable address.
final class PixelBuffer {
    let pointer: UnsafeMutablePointer<UInt8>
    init(_ pixels: [UInt8]) {
        pointer = .allocate(capacity: max(pixels.count, 1))
        pixels.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: pixels.count) }
    }
    deinit { pointer.deallocate() }
}
