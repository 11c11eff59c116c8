import AttrGuardAttribution
import AttrGuardCore
import AttrGuardNN
import AttrGuardTraining
import Foundation

/// One PyTorch float64 reference case (see the golden README): a layer list, parameters,
/// inputs, a method with hyper-parameters, and the expected values.
public struct GoldenCase {
    public let file: String
    public let name: String
    public let network: Network
    public let parameters: [String: Tensor]
    public let x: Tensor
    public let xAdv: Tensor
    /// hessian's probe v (`inputs.v`), nil when the case has none.
    public let probe: Tensor?
    public let labels: [Int]
    public let objective: Objective
    /// Expected tensors (scalars as shape []), and per-parameter dictionaries.
    public let expected: [String: Tensor]
    public let expectedGroups: [String: [String: Tensor]]

    /// Reads and checks a golden case file; errors name the file and the key.
    public init(contentsOf path: String) throws {
        file = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, key: "-", message: "cannot read the file")
        }
        let root: [String: Any]
        do {
            guard let r = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ConfigError(file: path, key: "-", message: "top level is not a JSON object")
            }
            root = r
        } catch let e as ConfigError { throw e } catch {
            throw ConfigError(file: path, key: "-", message: "not valid JSON (\(error.localizedDescription))")
        }
        func field(_ key: String) throws -> Any {
            guard let v = root[key] else { throw ConfigError(file: path, key: key, message: "missing") }
            return v
        }
        name = (root["name"] as? String) ?? URL(fileURLWithPath: path).lastPathComponent
        guard let inputShape = try field("input_shape") as? [Int] else {
            throw ConfigError(file: path, key: "input_shape", message: "expected a list of integers")
        }
        do {
            network = try Network(layers: LayerSpec.list(from: try field("layers")), inputShape: inputShape)
        } catch let e as NetworkError {
            throw ConfigError(file: path, key: e.layer + (e.field.isEmpty ? "" : ".\(e.field)"), message: e.message)
        }
        guard let params = try field("params") as? [String: Any] else { throw ConfigError(file: path, key: "params", message: "expected an object") }
        var named: [String: Tensor] = [:]
        for (key, value) in params { named[key] = try GoldenCase.tensor(value, file: path, key: "params.\(key)") }
        parameters = named
        guard let inputs = try field("inputs") as? [String: Any] else { throw ConfigError(file: path, key: "inputs", message: "expected an object") }
        guard let xv = inputs["x"] else { throw ConfigError(file: path, key: "inputs.x", message: "missing") }
        x = try GoldenCase.tensor(xv, file: path, key: "inputs.x")
        guard Array(x.shape.dropFirst()) == inputShape else {
            throw ConfigError(file: path, key: "inputs.x", message: "shape \(x.shape) does not match input_shape \(inputShape)")
        }
        xAdv = try inputs["x_adv"].map { try GoldenCase.tensor($0, file: path, key: "inputs.x_adv") } ?? x
        guard xAdv.shape == x.shape else { throw ConfigError(file: path, key: "inputs.x_adv", message: "shape \(xAdv.shape) differs from x \(x.shape)") }
        probe = try inputs["v"].map { try GoldenCase.tensor($0, file: path, key: "inputs.v") }
        if let probe, probe.shape != x.shape { throw ConfigError(file: path, key: "inputs.v", message: "shape \(probe.shape) differs from x \(x.shape)") }
        let yRaw = inputs["y"].flatMap { ($0 as? [Int]) ?? (($0 as? [String: Any])?["data"] as? [Int]) }
        guard let y = yRaw else { throw ConfigError(file: path, key: "inputs.y", message: "expected a list of integer labels") }
        let classes = network.outputShape.first ?? 0
        guard y.count == x.shape[0] else { throw ConfigError(file: path, key: "inputs.y", message: "\(y.count) labels for a batch of \(x.shape[0])") }
        if let bad = y.firstIndex(where: { $0 < 0 || $0 >= classes }) {
            throw ConfigError(file: path, key: "inputs.y[\(bad)]", message: "label \(y[bad]) outside 0..<\(classes)")
        }
        labels = y
        objective = try GoldenCase.objective(method: try field("method"), hparams: root["hparams"] ?? [String: Any](), file: path)
        if objective.needsProbe && probe == nil { throw ConfigError(file: path, key: "inputs.v", message: "missing (method \(objective.name) needs its probe v)") }
        guard let exp = try field("expected") as? [String: Any] else { throw ConfigError(file: path, key: "expected", message: "expected an object") }
        var single: [String: Tensor] = [:], groups: [String: [String: Tensor]] = [:]
        for (key, value) in exp {
            if let d = value as? [String: Any], d["data"] == nil {
                groups[key] = try d.keys.reduce(into: [:]) { $0[$1] = try GoldenCase.tensor(d[$1]!, file: path, key: "expected.\(key).\($1)") }
            } else {
                single[key] = try GoldenCase.tensor(value, file: path, key: "expected.\(key)")
            }
        }
        expected = single
        expectedGroups = groups
    }

    /// `{shape, data}` or a bare number, as Float64.
    static func tensor(_ value: Any, file: String, key: String) throws -> Tensor {
        if let n = value as? Double { return Tensor.scalar(n, dtype: .float64) }
        guard let d = value as? [String: Any], let shape = d["shape"] as? [Int], let raw = d["data"] as? [Any] else {
            throw ConfigError(file: file, key: key, message: "expected {shape, data} or a number")
        }
        let data = try raw.enumerated().map { i, v -> Double in
            guard let n = v as? Double else { throw ConfigError(file: file, key: "\(key).data[\(i)]", message: "not a number") }
            return n
        }
        guard data.count == Shape.count(shape) else {
            throw ConfigError(file: file, key: key, message: "shape \(shape) needs \(Shape.count(shape)) values, data has \(data.count)")
        }
        return Tensor(shape: shape, values: data, dtype: .float64)
    }

    static func objective(method: Any, hparams: Any, file: String) throws -> Objective {
        guard let method = method as? String else { throw ConfigError(file: file, key: "method", message: "expected a string") }
        guard let h = hparams as? [String: Any] else { throw ConfigError(file: file, key: "hparams", message: "expected an object") }
        func number(_ k: String, _ fallback: Double? = nil) throws -> Double {
            if let v = h[k] as? Double { return v }
            if let fallback, h[k] == nil { return fallback }
            throw ConfigError(file: file, key: "hparams.\(k)", message: h[k] == nil ? "missing" : "expected a number")
        }
        var target = AttributionTarget.loss
        if let t = h["attribution_of"] {
            guard let s = t as? String, let parsed = AttributionTarget(rawValue: s) else {
                throw ConfigError(file: file, key: "hparams.attribution_of", message: "expected 'loss' or 'logit', got \(t)")
            }
            target = parsed
        }
        let name = method == "adversarial" ? "pgd" : method
        let objective = try Objective.named(name, target: target) { key, fallback in
            let value = try number(key, key == "ig_steps" ? nil : fallback)   // a case names its path steps
            if key == "ig_steps" && !(value >= 1 && value == value.rounded()) {
                throw ConfigError(file: file, key: "hparams.ig_steps", message: "expected a positive integer")
            }
            return value
        }
        guard let objective else {
            throw ConfigError(file: file, key: "method", message: "unknown method '\(method)' (\(Objective.names.joined(separator: ", ")))")
        }
        // `hparams.base`: the CE part on x' (pgd) or TRADES' CE + β·KL (trades), as `method.base`.
        switch h["base"] as? String {
        case nil: guard h["base"] == nil else { throw ConfigError(file: file, key: "hparams.base", message: "expected a string") }
        case "standard": break
        case "pgd": return .based(.pgd, objective)
        case "trades": return .based(.trades(beta: try number("beta", 6)), objective)
        case let other?: throw ConfigError(file: file, key: "hparams.base", message: "expected standard, pgd or trades, got \(other)")
        }
        return objective
    }
}
