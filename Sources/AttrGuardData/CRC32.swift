import CZlib

/// zlib's crc32 over any number of bytes (zlib takes 32-bit lengths, so it is fed in chunks):
/// the checksum of packed datasets and of checkpoints.
public enum CRC32 {
    /// The crc32 of `raw`'s bytes.
    public static func of(_ raw: UnsafeRawBufferPointer) -> UInt32 {
        var value: UInt = 0
        var offset = 0
        while offset < raw.count {
            let n = min(raw.count - offset, 1 << 30)
            value = crc32(value, raw.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset, UInt32(n))
            offset += n
        }
        return UInt32(truncatingIfNeeded: value)
    }

    /// The crc32 of a byte collection.
    public static func of<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        bytes.withContiguousStorageIfAvailable { of(UnsafeRawBufferPointer($0)) } ?? Array(bytes).withUnsafeBytes { of($0) }
    }
}
