import AttrGuardCore

/// How a parameter is initialised (PyTorch's defaults for each layer type).
public enum ParameterInit: Sendable, Equatable {
    /// U(−1/√fanIn, 1/√fanIn): kaiming_uniform(a=√5) for weights, and the matching bias rule.
    case uniformFanIn(Int)
    case ones, zeros
}

/// One parameter of a network: its PyTorch-style name (`3.weight`), shape, and how it is initialised.
public struct ParameterSpec: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let initializer: ParameterInit
}

/// A batch-norm layer's running statistics, by the layer's name prefix (e.g. `3.body.1`).
public struct RunningStatistic: Sendable {
    public var mean: Tensor
    public var variance: Tensor
    public init(mean: Tensor, variance: Tensor) { self.mean = mean; self.variance = variance }
}

/// How batch norm behaves in a forward call.
public enum ForwardMode: Sendable {
    /// Batch statistics; running statistics are updated (momentum from the layer).
    case training
    /// Batch statistics, running statistics left alone (attribution passes, golden cases).
    case trainingFrozenStatistics
    /// Running statistics.
    case evaluation
}

/// A network: a validated layer list for a given input shape [C,H,W].
public struct Network: Sendable {
    public let layers: [LayerSpec]
    public let inputShape: [Int]
    /// The logits' shape per sample, [classes].
    public let outputShape: [Int]
    /// Every parameter in flat-buffer order.
    public let parameterSpecs: [ParameterSpec]
    /// Name prefixes of the batch-norm layers, with their feature counts.
    public let batchNormLayers: [(name: String, features: Int)]

    /// Walks the layers with the input shape, checking every size, and lists the parameters.
    public init(layers: [LayerSpec], inputShape: [Int]) throws {
        guard inputShape.count == 3, inputShape.allSatisfy({ $0 > 0 }) else {
            throw NetworkError(layer: "network", field: "input_shape", "expected [C, H, W], got \(inputShape)")
        }
        var specs: [ParameterSpec] = []
        var norms: [(String, Int)] = []
        outputShape = try Network.infer(layers, shape: inputShape, prefix: "", path: "layers", specs: &specs, norms: &norms)
        self.layers = layers
        self.inputShape = inputShape
        parameterSpecs = specs
        batchNormLayers = norms
    }

    public var parameterCount: Int { parameterSpecs.reduce(0) { $0 + Shape.count($1.shape) } }

    /// Shape (without batch) after `layers`, appending parameter specs as it goes.
    private static func infer(_ layers: [LayerSpec], shape start: [Int], prefix: String, path: String,
                              specs: inout [ParameterSpec], norms: inout [(String, Int)]) throws -> [Int] {
        var shape = start
        for (i, layer) in layers.enumerated() {
            let name = "\(prefix)\(i)", here = "\(path)[\(i)]"
            func need(_ rank: Int, _ what: String) throws {
                guard shape.count == rank else {
                    throw NetworkError(layer: here, field: "type", "\(layer.typeName) needs \(what) input, got \(shape) (C,H,W without batch)")
                }
            }
            switch layer {
            case let .conv2d(cin, cout, k, s, p, bias):
                try need(3, "an image [C,H,W]")
                guard shape[0] == cin else { throw NetworkError(layer: here, field: "in", "is \(cin) but the input has \(shape[0]) channels") }
                guard shape[1] + 2 * p >= k, shape[2] + 2 * p >= k else {
                    throw NetworkError(layer: here, field: "kernel", "\(k) is larger than the padded input \(shape)")
                }
                specs.append(ParameterSpec(name: "\(name).weight", shape: [cout, cin, k, k], initializer: .uniformFanIn(cin * k * k)))
                if bias { specs.append(ParameterSpec(name: "\(name).bias", shape: [cout], initializer: .uniformFanIn(cin * k * k))) }
                shape = [cout, (shape[1] + 2 * p - k) / s + 1, (shape[2] + 2 * p - k) / s + 1]
            case let .linear(fin, fout, bias):
                try need(1, "a flat [features]")
                guard shape[0] == fin else { throw NetworkError(layer: here, field: "in", "is \(fin) but the input has \(shape[0]) features") }
                specs.append(ParameterSpec(name: "\(name).weight", shape: [fout, fin], initializer: .uniformFanIn(fin)))
                if bias { specs.append(ParameterSpec(name: "\(name).bias", shape: [fout], initializer: .uniformFanIn(fin))) }
                shape = [fout]
            case let .batchnorm2d(features, _, _):
                try need(3, "an image [C,H,W]")
                guard shape[0] == features else {
                    throw NetworkError(layer: here, field: "features", "is \(features) but the input has \(shape[0]) channels")
                }
                specs.append(ParameterSpec(name: "\(name).weight", shape: [features], initializer: .ones))
                specs.append(ParameterSpec(name: "\(name).bias", shape: [features], initializer: .zeros))
                norms.append((name, features))
            case .relu, .softplus: break
            case let .maxpool2d(k, s, p), let .avgpool2d(k, s, p):
                try need(3, "an image [C,H,W]")
                guard 2 * p <= k else { throw NetworkError(layer: here, field: "padding", "\(p) is more than half the kernel \(k)") }
                guard shape[1] + 2 * p >= k, shape[2] + 2 * p >= k else {
                    throw NetworkError(layer: here, field: "kernel", "\(k) is larger than the input \(shape)")
                }
                shape = [shape[0], (shape[1] + 2 * p - k) / s + 1, (shape[2] + 2 * p - k) / s + 1]
            case .globalAvgPool:
                try need(3, "an image [C,H,W]")
                shape = [shape[0], 1, 1]
            case .flatten:
                shape = [Shape.count(shape)]
            case let .residual(body, shortcut, activation):
                let b = try infer(body, shape: shape, prefix: "\(name).body.", path: "\(here).body", specs: &specs, norms: &norms)
                let s = try infer(shortcut, shape: shape, prefix: "\(name).shortcut.", path: "\(here).shortcut", specs: &specs, norms: &norms)
                guard b == s else { throw NetworkError(layer: here, field: "shortcut", "gives \(s) but the body gives \(b)") }
                if let activation {
                    switch activation {
                    case .relu, .softplus: break
                    default: throw NetworkError(layer: here, field: "activation", "must be relu or softplus, got \(activation.typeName)")
                    }
                }
                shape = b
            }
        }
        return shape
    }
}
