/// Reverse-mode differentiation over the tape.

public enum AutogradError: Error, CustomStringConvertible {
    case notScalar([Int])
    case seedShape(expected: [Int], got: [Int])

    public var description: String {
        switch self {
        case .notScalar(let s): return "grad(of:): output must have one element, got \(Shape.describe(s)); pass a seed"
        case .seedShape(let e, let g): return "grad(of:seed:): seed \(Shape.describe(g)) does not match output \(Shape.describe(e))"
        }
    }
}

/// Gradients of `output` with respect to each of `inputs`.
///
/// - Parameters:
///   - seed: ∂L/∂output; defaults to 1 for a one-element output.
///   - createGraph: record the backward pass on the tape, so the returned gradients can be
///     differentiated again (the regularizers' double backprop). Without it nothing is recorded.
/// - Returns: one gradient per input, zeros where the output does not depend on it.
public func grad(of output: Variable, wrt inputs: [Variable], seed: Variable? = nil,
                 createGraph: Bool = false) throws -> [Variable] {
    if let seed, seed.shape != output.shape { throw AutogradError.seedShape(expected: output.shape, got: seed.shape) }
    if seed == nil && output.value.count != 1 { throw AutogradError.notScalar(output.shape) }
    let seedGrad = seed ?? Variable(Tensor(repeating: 1, shape: output.shape, dtype: output.dtype))

    let order = topologicalOrder(from: output)
    var grads: [ObjectIdentifier: Variable] = [ObjectIdentifier(output): seedGrad]
    let wanted = Set(inputs.map(ObjectIdentifier.init))
    // Only paths that reach a wanted input are differentiated: an input gradient does not pay
    // for weight gradients, and a parameter gradient does not pay for the input gradient.
    var reachesWanted = Set<ObjectIdentifier>()
    for v in order where wanted.contains(ObjectIdentifier(v))
        || (v.node?.inputs.contains { reachesWanted.contains(ObjectIdentifier($0)) } ?? false) {
        reachesWanted.insert(ObjectIdentifier(v))
    }

    for v in order.reversed() {
        guard let node = v.node, let g = grads[ObjectIdentifier(v)] else { continue }
        if !wanted.contains(ObjectIdentifier(v)) { grads[ObjectIdentifier(v)] = nil }   // free as we go
        let needs = node.inputs.map { reachesWanted.contains(ObjectIdentifier($0)) }
        let ctx = createGraph
            ? BackwardContext(grad: g, inputs: node.inputs, output: v, needs: needs)
            : BackwardContext(grad: g.detached, inputs: node.inputs.map(\.detached), output: v.detached, needs: needs)
        let inputGrads = node.backward(ctx)
        require(inputGrads.count == node.inputs.count, "backward of \(node.op) returned \(inputGrads.count) grads")
        for (i, (input, gi)) in zip(node.inputs, inputGrads).enumerated() where needs[i] {
            guard var gi else { continue }
            require(gi.shape == input.shape,
                         "backward of \(node.op): grad \(Shape.describe(gi.shape)) for input \(Shape.describe(input.shape))")
            if !createGraph { gi = gi.detached }
            let key = ObjectIdentifier(input)
            grads[key] = grads[key].map { $0 + gi } ?? gi
        }
    }
    return inputs.map { x in
        grads[ObjectIdentifier(x)] ?? Variable(Tensor(zeros: x.shape, dtype: x.dtype))
    }
}

/// Nodes reachable from `root` through inputs that require a gradient, inputs before users.
/// Iterative depth-first search: double-backprop graphs of a ResNet are deep.
func topologicalOrder(from root: Variable) -> [Variable] {
    var order: [Variable] = []
    var visited = Set<ObjectIdentifier>()
    var stack: [(Variable, Int)] = [(root, 0)]
    visited.insert(ObjectIdentifier(root))
    while let (v, next) = stack.last {
        let inputs = v.node?.inputs ?? []
        if next < inputs.count {
            stack[stack.count - 1].1 = next + 1
            let child = inputs[next]
            if child.requiresGrad && visited.insert(ObjectIdentifier(child)).inserted {
                stack.append((child, 0))
            }
        } else {
            order.append(v)
            stack.removeLast()
        }
    }
    return order
}
