import AttrGuardCore
import AttrGuardData
import AttrGuardNN
import Foundation

/// The safetensors format (an 8-byte little-endian header length, a JSON header of
/// name → {dtype, shape, data_offsets}, then the raw little-endian tensors), so trained weights
/// open in the Python ecosystem under PyTorch-style names; batch-norm running statistics are
/// `<layer>.running_mean` / `<layer>.running_var` as in a state_dict.
public enum Safetensors {
    /// Writes the parameters and running statistics (`N.running_mean`, `N.running_var`) with `metadata`, atomically.
    public static func write(parameters: ParameterSet, statistics: [String: RunningStatistic], metadata: [String: String],
                             to path: String) throws {
        var tensors: [(String, Tensor)] = parameters.names.map { ($0, parameters[$0]) }
        for name in statistics.keys.sorted() {
            tensors.append(("\(name).running_mean", statistics[name]!.mean))
            tensors.append(("\(name).running_var", statistics[name]!.variance))
        }
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        for (name, t) in tensors {
            let bytes = t.count * t.dtype.byteSize
            header[name] = ["dtype": t.dtype == .float32 ? "F32" : "F64", "shape": t.shape, "data_offsets": [offset, offset + bytes]]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }   // pad the header with spaces to 8-byte alignment
        var data = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for (_, t) in tensors { data.append(Data(bytes: t.rawPointer, count: t.count * t.dtype.byteSize)) }
        try writeAtomically(data, to: path)
    }

    /// Every tensor in the file by name, checked against the file size.
    public static func read(_ path: String) throws -> [String: Tensor] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ModelFileError(file: path, "cannot be read") }
        guard data.count >= 8 else { throw ModelFileError(file: path, "truncated: shorter than the 8-byte header length") }
        let headerBytes = try declaredHeader(data[0..<8], at: 0, available: UInt64(data.count - 8), file: path)
        guard let header = try? JSONSerialization.jsonObject(with: data[headerBytes]) as? [String: Any] else {
            throw ModelFileError(file: path, "header is not a JSON object")
        }
        let body = headerBytes.upperBound
        var out: [String: Tensor] = [:]
        for (name, value) in header where name != "__metadata__" {
            guard let d = value as? [String: Any], let dtype = d["dtype"] as? String, let shape = d["shape"] as? [Int],
                  let offsets = d["data_offsets"] as? [Int], offsets.count == 2 else {
                throw ModelFileError(file: path, "tensor \(name): malformed entry")
            }
            let type: DType
            switch dtype {
            case "F32": type = .float32
            case "F64": type = .float64
            default: throw ModelFileError(file: path, "tensor \(name): dtype \(dtype) is not F32 or F64")
            }
            // Sizes bounded by the file before any product, so no arithmetic here can overflow.
            var count = 1
            for s in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: s)
                guard s >= 0, !overflow, product <= data.count else {
                    throw ModelFileError(file: path, "tensor \(name): shape \(shape) does not fit a \(data.count)-byte file")
                }
                count = product
            }
            let bytes = count * type.byteSize
            guard offsets[0] >= 0, offsets[1] >= offsets[0], offsets[1] <= data.count - body, offsets[1] - offsets[0] == bytes else {
                throw ModelFileError(file: path, "tensor \(name): truncated or inconsistent offsets \(offsets) for shape \(shape)")
            }
            let t = Tensor(zeros: shape, dtype: type)
            data[(body + offsets[0])..<(body + offsets[1])].withUnsafeBytes { t.rawPointer.copyMemory(from: $0.baseAddress!, byteCount: bytes) }
            out[name] = t
        }
        return out
    }

    /// Imports weights and running statistics for `network` (names and shapes must match).
    public static func load(_ path: String, network: Network, dtype: DType) throws -> (ParameterSet, [String: RunningStatistic]) {
        var tensors = try read(path)
        var statistics: [String: RunningStatistic] = [:]
        for (name, features) in network.batchNormLayers {
            guard let m = tensors.removeValue(forKey: "\(name).running_mean"), let v = tensors.removeValue(forKey: "\(name).running_var"),
                  m.count == features, v.count == features else {
                throw ModelFileError(file: path, "missing running statistics of batch norm \(name)")
            }
            statistics[name] = RunningStatistic(mean: m.converted(to: dtype), variance: v.converted(to: dtype))
        }
        do {
            return (try ParameterSet(network: network, values: tensors, dtype: dtype, source: path), statistics)
        } catch let e as NetworkError { throw ModelFileError(file: path, "\(e.field): \(e.message)") }
    }
}
