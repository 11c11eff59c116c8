import Foundation

/// NumPy's .npy format (version 1–3): little-endian float32 or float64, C order.
public enum NPY {
    /// Values as Double and the array's shape.
    public static func read(_ path: String) throws -> (values: [Double], shape: [Int]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError(file: path, "cannot be read") }
        let bytes = [UInt8](data)
        guard bytes.count >= 10, Array(bytes[0..<6]) == [0x93] + Array("NUMPY".utf8) else { throw DataError(file: path, "not a .npy file (bad magic)") }
        let major = bytes[6]
        let (lengthSize, headerStart) = major == 1 ? (2, 10) : (4, 12)
        guard major >= 1 && major <= 3, bytes.count >= headerStart else { throw DataError(file: path, "unsupported .npy version \(major)") }
        var length = 0
        for i in 0..<lengthSize { length |= Int(bytes[8 + i]) << (8 * i) }
        guard headerStart + length <= bytes.count else { throw DataError(file: path, "truncated header") }
        let header = String(decoding: bytes[headerStart..<(headerStart + length)], as: UTF8.self)
        func field(_ key: String) -> String? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descr = field("descr"), let q = descr.dropFirst().firstIndex(of: "'") else { throw DataError(file: path, "header has no descr") }
        let type = String(descr.dropFirst()[..<q])
        let size: Int
        switch type {
        case "<f4", "=f4": size = 4
        case "<f8", "=f8": size = 8
        default: throw DataError(file: path, "dtype \(type) is not little-endian float32/float64")
        }
        if let order = field("fortran_order"), order.hasPrefix("True") { throw DataError(file: path, "Fortran-ordered arrays are not supported") }
        guard let shapeText = field("shape"), let open = shapeText.firstIndex(of: "("), let close = shapeText.firstIndex(of: ")") else {
            throw DataError(file: path, "header has no shape")
        }
        guard open < close else { throw DataError(file: path, "header has no shape") }
        let dims = shapeText[shapeText.index(after: open)..<close].split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        // Every dimension a non-negative integer, and the element count without overflow: a shape
        // such as (-2, -2) multiplies to a plausible count, and (2**40, 2**40) overflows Int.
        var shape: [Int] = [], count = 1
        for d in dims {
            guard let n = Int(d), n >= 0 else { throw DataError(file: path, "shape \(shapeText[open...close]): '\(d)' is not a size") }
            let (product, overflow) = count.multipliedReportingOverflow(by: n)
            guard !overflow, product <= Int.max / 8 else { throw DataError(file: path, "shape \(shapeText[open...close]) is too large") }
            shape.append(n); count = product
        }
        let start = headerStart + length
        guard bytes.count - start == count * size else {
            throw DataError(file: path, "truncated: \(bytes.count - start) data bytes for shape \(shape) of \(type) (\(count * size) expected)")
        }
        var values = [Double](repeating: 0, count: count)
        data.withUnsafeBytes { raw in
            for i in 0..<count {
                values[i] = size == 4 ? Double(Float(bitPattern: raw.loadUnaligned(fromByteOffset: start + 4 * i, as: UInt32.self).littleEndian))
                                      : Double(bitPattern: raw.loadUnaligned(fromByteOffset: start + 8 * i, as: UInt64.self).littleEndian)
            }
        }
        return (values, shape)
    }

    /// Writes float32 values (maps for cross-checking in Python).
    public static func write(_ values: [Float], shape: [Int], to path: String) throws {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(shape.map(String.init).joined(separator: ", "))\(shape.count == 1 ? "," : "")), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        data.append(Data(header.utf8))
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        try writeAtomically(data, to: path)
    }
}
