import AttrGuardData
import Foundation

/// The files AttrGuard writes with a JSON header (checkpoints, safetensors) announce its length as
/// a little-endian UInt64: the header's byte range after it, checked against the `available`
/// bytes that follow the length before any Int is made of it (a damaged 2⁶⁴ − 1 must not trap).
func declaredHeader(_ lengthBytes: Data, at offset: Int, available: UInt64, file: String) throws -> Range<Int> {
    let length = lengthBytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    guard length > 0, length <= available else {
        throw DataError(file: file, "truncated header (\(length) bytes declared, \(available) follow)")
    }
    return (offset + 8)..<(offset + 8 + Int(length))
}
