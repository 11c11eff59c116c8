/// What the model files (checkpoints, safetensors) share: their error type and the check of their length-prefixed JSON header.
import Foundation

/// A checkpoint or safetensors file (the model files) that cannot be used: names the file.
public struct ModelFileError: Error, CustomStringConvertible {
    public let file: String
    public let message: String
    public init(file: String, _ message: String) { self.file = file; self.message = message }
    public var description: String { "\(file): \(message)" }
}

/// The files AttrGuard writes with a JSON header (checkpoints, safetensors) announce its length as
/// a little-endian UInt64: the header's byte range after it, checked against the `available`
/// bytes that follow the length before any Int is made of it (a damaged 2⁶⁴ − 1 must not trap).
func declaredHeader(_ lengthBytes: Data, at offset: Int, available: UInt64, file: String) throws -> Range<Int> {
    let length = lengthBytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    guard length > 0, length <= available else {
        throw ModelFileError(file: file, "truncated header (\(length) bytes declared, \(available) follow)")
    }
    return (offset + 8)..<(offset + 8 + Int(length))
}
