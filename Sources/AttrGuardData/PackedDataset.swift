import Foundation

/// A preprocessed dataset in one file that training memory-maps: decoding JPEGs is the
/// bottleneck on CPU, so `attrguard data pack` does it once.
///
/// Layout (little-endian):
///   0   magic "AGPACK\0\0" (8) · version u32 · header crc32 u32 (of bytes 16..<64)
///   16  count u64 · channels u32 · height u32 · width u32 · class count u32
///   40  names length u64 · meta crc32 u32 (names + labels + chunk table) · pixel crc32 u32
///   56  images per chunk u32 (version 2) · reserved (4)
///   64  class names, UTF-8, one per line · labels u16 × count · chunk crc32 u32 × ⌈count / chunk⌉
///       (version 2) · zero padding to 64
///   …   pixels u8 [count, channels, height, width]
/// A rank maps the file and touches only the pages of the images it reads; each chunk's pixels
/// are checked against their crc32 the first time a batch reads from the chunk (`ImageStore.verify`).
public enum PackedDataset {
    static let magic: [UInt8] = Array("AGPACK".utf8) + [0, 0]
    static let version: UInt32 = 2
    static let headerSize = 64
    /// 1024 CIFAR images are 3 MB, 1024 ImageNet-100 ones at 160² 79 MB: a check per chunk costs a
    /// few milliseconds once.
    static let imagesPerChunk = 1024

    /// Writes `store` as a packed file (header, crc32 per chunk of images, uint8 pixels, labels), atomically.
    public static func write(_ store: ImageStore, to path: String) throws {
        let names = Data(store.classNames.joined(separator: "\n").utf8)
        var labels = Data(capacity: store.count * 2)
        for y in store.labels { withUnsafeBytes(of: UInt16(y).littleEndian) { labels.append(contentsOf: $0) } }
        let pixelBytes = UnsafeBufferPointer(start: store.base, count: store.count * store.imageSize)
        var table = Data()
        for start in stride(from: 0, to: store.count, by: imagesPerChunk) {
            let chunk = UnsafeBufferPointer(rebasing: pixelBytes[(start * store.imageSize)..<(min(store.count, start + imagesPerChunk) * store.imageSize)])
            withUnsafeBytes(of: CRC32.of(UnsafeRawBufferPointer(chunk)).littleEndian) { table.append(contentsOf: $0) }
        }
        let meta = names + labels + table
        var header = Data(count: headerSize)
        func put<T: FixedWidthInteger>(_ v: T, at offset: Int) {
            withUnsafeBytes(of: v.littleEndian) { header.replaceSubrange(offset..<(offset + MemoryLayout<T>.size), with: $0) }
        }
        header.replaceSubrange(0..<8, with: magic)
        put(version, at: 8)
        put(UInt64(store.count), at: 16)
        put(UInt32(store.imageShape[0]), at: 24); put(UInt32(store.imageShape[1]), at: 28); put(UInt32(store.imageShape[2]), at: 32)
        put(UInt32(store.classes), at: 36)
        put(UInt64(names.count), at: 40)
        put(CRC32.of(meta), at: 48)
        put(CRC32.of(pixelBytes), at: 52)
        put(UInt32(imagesPerChunk), at: 56)
        put(CRC32.of(header[16..<64]), at: 12)
        var file = header + meta
        file.append(Data(count: (64 - file.count % 64) % 64))
        file.append(pixelBytes)
        try writeAtomically(file, to: path)
    }

    /// Maps `path` and checks magic, version, header and label checksums and the file size;
    /// `verifyPixels` also checks the pixel checksum (reads the whole file).
    public static func open(_ path: String, verifyPixels: Bool = false) throws -> ImageStore {
        let mapping = try Mapping(path: path)
        let bytes = UnsafeRawBufferPointer(start: mapping.base, count: mapping.size)
        guard mapping.size >= headerSize else { throw DataError(file: path, "too short for a packed dataset header (\(mapping.size) bytes)") }
        guard Array(bytes[0..<8]) == magic else { throw DataError(file: path, "not a packed dataset (bad magic)") }
        func get<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T { T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self)) }
        let fileVersion = get(8, UInt32.self)
        guard fileVersion == version else {
            throw DataError(file: path, "unsupported version \(fileVersion)" + (fileVersion < version ? " (an older AttrGuard's: re-pack it with attrguard data pack)" : ""))
        }
        guard get(12, UInt32.self) == CRC32.of(UnsafeRawBufferPointer(rebasing: bytes[16..<64])) else {
            throw DataError(file: path, "header checksum mismatch (corrupted header)")
        }
        // Sizes are bounded by the file before any arithmetic: a header with a valid checksum can still
        // describe 2^63 images or 2^32-wide ones, whose products would overflow.
        let count64 = get(16, UInt64.self), names64 = get(40, UInt64.self), size = UInt64(mapping.size)
        let shape = [Int(get(24, UInt32.self)), Int(get(28, UInt32.self)), Int(get(32, UInt32.self))]
        let classCount = Int(get(36, UInt32.self))
        let (imageBytes, over1) = UInt64(shape[0]).multipliedReportingOverflow(by: UInt64(shape[1]))
        let (imageBytes2, over2) = imageBytes.multipliedReportingOverflow(by: UInt64(shape[2]))
        guard count64 <= size / 2, names64 <= size, !over1, !over2, imageBytes2 <= size,
              imageBytes2 == 0 || count64 <= size / imageBytes2 else {
            throw DataError(file: path, "header describes \(count64) images of \(shape) and \(names64) bytes of names: more than the \(size)-byte file holds")
        }
        let count = Int(count64), namesLength = Int(names64)
        let chunkImages = Int(get(56, UInt32.self))
        guard chunkImages >= 1 else { throw DataError(file: path, "header gives 0 images per chunk") }
        let chunks = (count + chunkImages - 1) / chunkImages
        let tableStart = headerSize + namesLength + 2 * count
        let metaEnd = tableStart + 4 * chunks
        let pixelStart = metaEnd + (64 - metaEnd % 64) % 64
        let pixelCount = count * shape.reduce(1, *)
        guard mapping.size == pixelStart + pixelCount else {
            throw DataError(file: path, "size \(mapping.size) bytes, the header describes \(pixelStart + pixelCount) (truncated or padded)")
        }
        guard get(48, UInt32.self) == CRC32.of(UnsafeRawBufferPointer(rebasing: bytes[headerSize..<metaEnd])) else {
            throw DataError(file: path, "class-name/label checksum mismatch")
        }
        let pixelsDamaged = verifyPixels && get(52, UInt32.self) != CRC32.of(UnsafeRawBufferPointer(rebasing: bytes[pixelStart..<(pixelStart + pixelCount)]))
        let names = String(decoding: bytes[headerSize..<(headerSize + namesLength)], as: UTF8.self)
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard names.count == classCount else { throw DataError(file: path, "\(names.count) class names for \(classCount) classes") }
        var labels: [Int] = []
        labels.reserveCapacity(count)
        for i in 0..<count {
            let y = Int(get(headerSize + namesLength + 2 * i, UInt16.self))
            guard y < classCount else { throw DataError(file: path, record: i, "label \(y) outside 0..<\(classCount)") }
            labels.append(y)
        }
        let checksums = (0..<chunks).map { get(tableStart + 4 * $0, UInt32.self) }
        let store = ImageStore(base: (mapping.base + pixelStart).assumingMemoryBound(to: UInt8.self), labels: labels,
                               imageShape: shape, classNames: names, owner: mapping,
                               checks: ChunkChecks(file: path, imagesPerChunk: chunkImages, checksums: checksums, base: mapping.base + pixelStart,
                                                   imageBytes: shape.reduce(1, *), count: count))
        if pixelsDamaged {
            // Which images: the chunk checks name the first damaged chunk's range.
            try store.verify(Array(stride(from: 0, to: count, by: chunkImages)))
            throw DataError(file: path, "pixel checksum mismatch, though every chunk's own checksum holds (a damaged chunk table or header field)")
        }
        return store
    }
}

/// A read-only memory mapping, unmapped when the last store using it goes.
final class Mapping {
    let base: UnsafeRawPointer
    let size: Int

    init(path: String) throws {
        let fd = Foundation.open(path, O_RDONLY)
        guard fd >= 0 else { throw DataError(file: path, "cannot open (errno \(errno))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw DataError(file: path, "cannot stat (errno \(errno))") }
        size = Int(info.st_size)
        guard size > 0 else { throw DataError(file: path, "is empty") }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw DataError(file: path, "cannot map (errno \(errno))")
        }
        base = UnsafeRawPointer(p)
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), size) }
}

/// The pixel checksums of a packed file's chunks, each verified once, when first read.
final class ChunkChecks: @unchecked Sendable {
    let file: String
    let imagesPerChunk: Int
    private let checksums: [UInt32]
    private let base: UnsafeRawPointer
    private let imageBytes: Int
    private let count: Int
    private var verified: [Bool]
    private let lock = NSLock()

    init(file: String, imagesPerChunk: Int, checksums: [UInt32], base: UnsafeRawPointer, imageBytes: Int, count: Int) {
        self.file = file; self.imagesPerChunk = imagesPerChunk; self.checksums = checksums
        self.base = base; self.imageBytes = imageBytes; self.count = count
        verified = [Bool](repeating: false, count: checksums.count)
    }

    /// Checks the chunks holding `indices` that no earlier read has checked.
    func verify(_ indices: [Int]) throws {
        let wanted = Set(indices.map { $0 / imagesPerChunk })
        for chunk in wanted.sorted() where !lock.withLock({ verified[chunk] }) {
            let first = chunk * imagesPerChunk, last = min(count, first + imagesPerChunk)
            let bytes = UnsafeRawBufferPointer(start: base + first * imageBytes, count: (last - first) * imageBytes)
            guard CRC32.of(bytes) == checksums[chunk] else {
                throw DataError(file: file, record: first, "pixel checksum mismatch in images \(first)..<\(last) (a damaged file: re-pack it)")
            }
            lock.withLock { verified[chunk] = true }
        }
    }
}
