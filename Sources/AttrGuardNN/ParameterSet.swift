import AttrGuardCore

/// All parameters of a network in one flat buffer, with a named view per parameter (in the
/// network's order). The optimizer and the MPI all-reduce work on the flat buffer; layers
/// read the views.
public struct ParameterSet: Sendable {
    public let specs: [ParameterSpec]
    /// [total] — every parameter, concatenated in `specs` order.
    public private(set) var flat: Tensor
    public let offsets: [Int]
    private let index: [String: Int]

    public var dtype: DType { flat.dtype }
    public var names: [String] { specs.map(\.name) }

    private init(specs: [ParameterSpec], flat: Tensor) {
        self.specs = specs
        var offsets: [Int] = [], total = 0
        for s in specs { offsets.append(total); total += Shape.count(s.shape) }
        require(flat.count == total, "ParameterSet: flat buffer of \(flat.count) for \(total) parameters")
        self.offsets = offsets
        self.flat = flat
        index = Dictionary(uniqueKeysWithValues: specs.enumerated().map { ($1.name, $0) })
    }

    /// Fresh parameters, initialised as PyTorch does, from `rng`.
    public init(network: Network, dtype: DType, rng: inout RandomStream) {
        let total = network.parameterCount
        self.init(specs: network.parameterSpecs, flat: Tensor(zeros: [total], dtype: dtype))
        var values = [Double](repeating: 0, count: total)
        for (spec, offset) in zip(specs, offsets) {
            let n = Shape.count(spec.shape)
            switch spec.initializer {
            case .uniformFanIn(let fanIn):
                let bound = 1 / Double(fanIn).squareRoot()
                for j in 0..<n { values[offset + j] = rng.uniform(-bound, bound) }
            case .ones: for j in 0..<n { values[offset + j] = 1 }
            case .zeros: break
            }
        }
        flat = Tensor(shape: [total], values: values, dtype: dtype)
    }

    /// Parameters from named tensors; every spec must be present with its shape, and nothing else.
    public init(network: Network, values: [String: Tensor], dtype: DType, source: String) throws {
        let total = network.parameterCount
        self.init(specs: network.parameterSpecs, flat: Tensor(zeros: [total], dtype: dtype))
        for (spec, offset) in zip(specs, offsets) {
            guard let t = values[spec.name] else {
                throw NetworkError(layer: source, field: spec.name, "missing parameter (shape \(spec.shape))")
            }
            guard t.shape == spec.shape else {
                throw NetworkError(layer: source, field: spec.name, "has shape \(t.shape), the network needs \(spec.shape)")
            }
            var view = Tensor(storage: flat.storage, shape: spec.shape, offset: offset)
            view.copyElements(from: t)
        }
        if let extra = values.keys.sorted().first(where: { index[$0] == nil }) {
            throw NetworkError(layer: source, field: extra, "is not a parameter of this network")
        }
    }

    /// The named parameter, as a view into the flat buffer.
    public subscript(name: String) -> Tensor {
        guard let i = index[name] else { fatalError("no parameter named '\(name)'") }
        return Tensor(storage: flat.storage, shape: specs[i].shape, offset: offsets[i])
    }

    /// Leaf variables for one forward/backward, in `specs` order, keyed by name.
    public func variables() -> BoundParameters {
        BoundParameters(names: names, variables: specs.indices.map { Variable(self[specs[$0].name], requiresGrad: true) })
    }

    /// Gradients (in `specs` order) packed into one flat tensor shaped like `flat`.
    public func pack(_ gradients: [Variable]) -> Tensor {
        require(gradients.count == specs.count, "pack: \(gradients.count) gradients for \(specs.count) parameters")
        let out = Tensor(zeros: [flat.count], dtype: dtype)
        for (g, offset) in zip(gradients, offsets) {
            var view = Tensor(storage: out.storage, shape: g.shape, offset: offset)
            view.copyElements(from: g.value)
        }
        return out
    }

    /// Replaces the flat buffer (an optimizer step or a broadcast from rank 0).
    public mutating func assign(flat newFlat: Tensor) {
        require(newFlat.count == flat.count && newFlat.dtype == flat.dtype, "ParameterSet.assign: size or dtype differs")
        flat = Tensor(storage: newFlat.storage, shape: [flat.count], offset: newFlat.offset)
    }
}

/// Parameters bound as tape leaves for one step.
public struct BoundParameters {
    public let names: [String]
    public let variables: [Variable]
    private let byName: [String: Variable]

    public init(names: [String], variables: [Variable]) {
        self.names = names
        self.variables = variables
        byName = Dictionary(uniqueKeysWithValues: zip(names, variables).map { ($0, $1) })
    }

    public subscript(name: String) -> Variable {
        guard let v = byName[name] else { fatalError("no bound parameter named '\(name)'") }
        return v
    }

    /// The parameter called `name`, or nil (bias-free layers).
    public func optional(_ name: String) -> Variable? { byName[name] }
}
