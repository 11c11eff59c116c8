import AttrGuardCore

/// One layer of a network described as data: the golden files' layer list, also usable in
/// YAML configs. Parameters are named the way PyTorch's state_dict names them: the layer's
/// index in its list, then `body`/`shortcut` and the inner index for residual blocks.
public indirect enum LayerSpec: Equatable, Sendable {
    case conv2d(in: Int, out: Int, kernel: Int, stride: Int, padding: Int, bias: Bool)
    case linear(in: Int, out: Int, bias: Bool)
    case batchnorm2d(features: Int, eps: Double, momentum: Double)
    case relu
    case softplus(beta: Double)
    case maxpool2d(kernel: Int, stride: Int, padding: Int)
    case avgpool2d(kernel: Int, stride: Int, padding: Int)
    case globalAvgPool
    case flatten
    /// activation(body(x) + shortcut(x)); an empty shortcut is the identity.
    case residual(body: [LayerSpec], shortcut: [LayerSpec], activation: LayerSpec?)

    public var typeName: String {
        switch self {
        case .conv2d: return "conv2d"
        case .linear: return "linear"
        case .batchnorm2d: return "batchnorm2d"
        case .relu: return "relu"
        case .softplus: return "softplus"
        case .maxpool2d: return "maxpool2d"
        case .avgpool2d: return "avgpool2d"
        case .globalAvgPool: return "global_avgpool"
        case .flatten: return "flatten"
        case .residual: return "residual"
        }
    }
}

/// A bad network description, naming the layer (by its path, e.g. `layers[3].body[1]`) and field.
public struct NetworkError: Error, CustomStringConvertible, Equatable {
    public let layer: String
    public let field: String
    public let message: String
    public init(layer: String, field: String, _ message: String) { self.layer = layer; self.field = field; self.message = message }
    public var description: String { "\(layer).\(field): \(message)" }
}

extension LayerSpec {
    /// Decodes a layer list from JSON/YAML-like values (arrays of dictionaries).
    public static func list(from value: Any, path: String = "layers") throws -> [LayerSpec] {
        guard let items = value as? [Any] else { throw NetworkError(layer: path, field: "", "expected a list of layers") }
        return try items.enumerated().map { try LayerSpec(from: $1, path: "\(path)[\($0)]") }
    }

    static let knownKeys: [String: Set<String>] = [
        "conv2d": ["in", "out", "kernel", "stride", "padding", "bias"],
        "linear": ["in", "out", "bias"],
        "batchnorm2d": ["features", "eps", "momentum"],
        "relu": [], "softplus": ["beta"], "global_avgpool": [], "flatten": [],
        "maxpool2d": ["kernel", "stride", "padding"], "avgpool2d": ["kernel", "stride", "padding"],
        "residual": ["body", "shortcut", "activation"],
    ]

    /// A layer from its YAML/JSON dictionary; errors name `path` and the field.
    public init(from value: Any, path: String) throws {
        guard let d = value as? [String: Any] else { throw NetworkError(layer: path, field: "", "expected a dictionary") }
        guard let type = d["type"] as? String else { throw NetworkError(layer: path, field: "type", "missing or not a string") }
        guard let known = LayerSpec.knownKeys[type] else {
            throw NetworkError(layer: path, field: "type", "unknown layer type '\(type)' (known: \(LayerSpec.knownKeys.keys.sorted().joined(separator: ", ")))")
        }
        for key in d.keys where key != "type" && !known.contains(key) {
            throw NetworkError(layer: path, field: key, "unknown field for \(type)")
        }
        func int(_ key: String, _ fallback: Int? = nil, min: Int = 1) throws -> Int {
            guard let raw = d[key] else {
                if let fallback { return fallback }
                throw NetworkError(layer: path, field: key, "missing")
            }
            // Int(exactly:) rather than Int(_:): a YAML float such as 1e30 is an error, not a trap.
            guard let v = (raw as? Int) ?? (raw as? Double).flatMap({ Int(exactly: $0) }) else {
                throw NetworkError(layer: path, field: key, "expected an integer, got \(raw)")
            }
            guard v >= min else { throw NetworkError(layer: path, field: key, "must be at least \(min), got \(v)") }
            guard v <= 1 << 20 else { throw NetworkError(layer: path, field: key, "must be at most \(1 << 20), got \(v)") }
            return v
        }
        func double(_ key: String, _ fallback: Double) throws -> Double {
            guard let raw = d[key] else { return fallback }
            guard let v = (raw as? Double) ?? (raw as? Int).map(Double.init), v.isFinite, v > 0 else {
                throw NetworkError(layer: path, field: key, "expected a positive number, got \(raw)")
            }
            return v
        }
        func bool(_ key: String, _ fallback: Bool) throws -> Bool {
            guard let raw = d[key] else { return fallback }
            guard let v = raw as? Bool else { throw NetworkError(layer: path, field: key, "expected true or false, got \(raw)") }
            return v
        }
        switch type {
        case "conv2d":
            self = .conv2d(in: try int("in"), out: try int("out"), kernel: try int("kernel"), stride: try int("stride", 1),
                           padding: try int("padding", 0, min: 0), bias: try bool("bias", true))
        case "linear": self = .linear(in: try int("in"), out: try int("out"), bias: try bool("bias", true))
        case "batchnorm2d": self = .batchnorm2d(features: try int("features"), eps: try double("eps", 1e-5), momentum: try double("momentum", 0.1))
        case "relu": self = .relu
        case "softplus": self = .softplus(beta: try double("beta", 1))
        case "global_avgpool": self = .globalAvgPool
        case "flatten": self = .flatten
        case "maxpool2d", "avgpool2d":
            let k = try int("kernel")
            let s = try int("stride", k), p = try int("padding", 0, min: 0)
            self = type == "maxpool2d" ? .maxpool2d(kernel: k, stride: s, padding: p) : .avgpool2d(kernel: k, stride: s, padding: p)
        default: // residual
            let body = try LayerSpec.list(from: d["body"] ?? [Any](), path: "\(path).body")
            let shortcut = try LayerSpec.list(from: d["shortcut"] ?? [Any](), path: "\(path).shortcut")
            let activation = try d["activation"].map { try LayerSpec(from: $0, path: "\(path).activation") }
            self = .residual(body: body, shortcut: shortcut, activation: activation)
        }
    }

    /// The same layer as JSON-like values (for writing configs and checkpoints).
    public var dictionary: [String: Any] {
        switch self {
        case let .conv2d(i, o, k, s, p, b): return ["type": typeName, "in": i, "out": o, "kernel": k, "stride": s, "padding": p, "bias": b]
        case let .linear(i, o, b): return ["type": typeName, "in": i, "out": o, "bias": b]
        case let .batchnorm2d(f, e, m): return ["type": typeName, "features": f, "eps": e, "momentum": m]
        case .softplus(let beta): return ["type": typeName, "beta": beta]
        case let .maxpool2d(k, s, p), let .avgpool2d(k, s, p): return ["type": typeName, "kernel": k, "stride": s, "padding": p]
        case let .residual(body, shortcut, activation):
            var d: [String: Any] = ["type": typeName, "body": body.map(\.dictionary), "shortcut": shortcut.map(\.dictionary)]
            if let activation { d["activation"] = activation.dictionary }
            return d
        case .relu, .globalAvgPool, .flatten: return ["type": typeName]
        }
    }
}
