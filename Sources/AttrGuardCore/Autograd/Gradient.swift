/// Reverse-mode differentiation over the tape.

/// Why `grad` refused: an output of more than one element without a seed, or a seed of the wrong shape.
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
///   - onReady: called once per input, with its index and final gradient, as soon as no
///     remaining node can add to it (what bucketed all-reduce needs to start communication
///     during the backward). Inputs the output does not depend on are reported at the end.
///   - releasingGraph: free each node's inputs as soon as its backward has run, so the graph's
///     memory shrinks while the backward allocates gradients (a training step's last backward).
///     The graph behind `output` cannot be differentiated again afterwards.
/// - Returns: one gradient per input, zeros where the output does not depend on it.
public func grad(of output: Variable, wrt inputs: [Variable], seed: Variable? = nil,
                 createGraph: Bool = false, releasingGraph: Bool = false,
                 onReady: ((Int, Variable) -> Void)? = nil) throws -> [Variable] {
    require(!(createGraph && releasingGraph), "grad(of:): a recorded backward cannot release the graph it records on")
    return try OpProfiler.during(createGraph ? .graphBackward : .backward) {
        try backpropagate(output, inputs, seed: seed, createGraph: createGraph, stopAtInputs: false,
                          releasingGraph: releasingGraph, onReady: onReady)
    }
}

/// The same, treating `inputs` as leaves: what they depend on is not traversed (partial
/// derivatives of a composite built on top of them; see `compositeBackward`).
func grad(of output: Variable, wrt inputs: [Variable], seed: Variable, createGraph: Bool, stopAtInputs: Bool) throws -> [Variable] {
    try backpropagate(output, inputs, seed: seed, createGraph: createGraph, stopAtInputs: stopAtInputs, releasingGraph: false, onReady: nil)
}

private func backpropagate(_ output: Variable, _ inputs: [Variable], seed: Variable?, createGraph: Bool,
                           stopAtInputs: Bool, releasingGraph: Bool, onReady: ((Int, Variable) -> Void)?) throws -> [Variable] {
    if let seed, seed.shape != output.shape { throw AutogradError.seedShape(expected: output.shape, got: seed.shape) }
    if seed == nil && output.value.count != 1 { throw AutogradError.notScalar(output.shape) }
    let seedGrad = seed ?? Variable(Tensor(repeating: 1, shape: output.shape, dtype: output.dtype))

    let wanted = Set(inputs.map(ObjectIdentifier.init))
    var order = topologicalOrder(from: output, boundary: stopAtInputs ? wanted : [])
    var grads: [ObjectIdentifier: Variable] = [ObjectIdentifier(output): seedGrad]
    // Only paths that reach a wanted input are differentiated: an input gradient does not pay
    // for weight gradients, and a parameter gradient does not pay for the input gradient.
    var reachesWanted = Set<ObjectIdentifier>()
    for v in order where wanted.contains(ObjectIdentifier(v))
        || (v.node?.inputs.contains { reachesWanted.contains(ObjectIdentifier($0)) } ?? false) {
        reachesWanted.insert(ObjectIdentifier(v))
    }

    // For onReady: how many pending nodes still feed each wanted input.
    var pendingUses: [ObjectIdentifier: Int] = [:]
    var inputIndex: [ObjectIdentifier: Int] = [:]
    if onReady != nil {
        for (i, x) in inputs.enumerated() where inputIndex[ObjectIdentifier(x)] == nil { inputIndex[ObjectIdentifier(x)] = i }
        for v in order where reachesWanted.contains(ObjectIdentifier(v)) {
            for input in v.node?.inputs ?? [] where wanted.contains(ObjectIdentifier(input)) {
                pendingUses[ObjectIdentifier(input), default: 0] += 1
            }
        }
    }
    var reported = Set<ObjectIdentifier>()
    var owned = Set<ObjectIdentifier>()
    func report(_ key: ObjectIdentifier) {
        guard let onReady, let i = inputIndex[key], reported.insert(key).inserted else { return }
        onReady(i, grads[key] ?? Variable(Tensor(zeros: inputs[i].shape, dtype: inputs[i].dtype)))
    }

    // Users before inputs; popped so that, when releasing, a processed variable is held by
    // nothing here (identifiers of freed variables are never looked up again: every later key
    // is a variable that was alive all along).
    while let v = order.popLast() {
        guard reachesWanted.contains(ObjectIdentifier(v)), let node = v.node else { continue }
        if stopAtInputs && wanted.contains(ObjectIdentifier(v)) { continue }
        defer {
            if releasingGraph { v.releaseNode() }
            // This node's contributions are in: inputs it was the last user of are final.
            if onReady != nil {
                for input in node.inputs where wanted.contains(ObjectIdentifier(input)) {
                    let key = ObjectIdentifier(input)
                    pendingUses[key]! -= 1
                    if pendingUses[key] == 0 { report(key) }
                }
            }
        }
        guard let g = grads[ObjectIdentifier(v)] else { continue }
        if !wanted.contains(ObjectIdentifier(v)) { grads[ObjectIdentifier(v)] = nil }   // free as we go
        let needs = node.inputs.map { reachesWanted.contains(ObjectIdentifier($0)) }
        let ctx = createGraph
            ? BackwardContext(grad: g, inputs: node.inputs, output: v, needs: needs, createGraph: true)
            : BackwardContext(grad: g.detached, inputs: node.inputs.map(\.detached), output: v.detached, needs: needs, createGraph: false)
        let inputGrads = node.layer.map { layer in OpProfiler.inLayer(layer) { node.backward(ctx) } } ?? node.backward(ctx)
        require(inputGrads.count == node.inputs.count, "backward of \(node.op) returned \(inputGrads.count) grads")
        for (i, (input, gi)) in zip(node.inputs, inputGrads).enumerated() where needs[i] {
            guard let gi else { continue }
            require(gi.shape == input.shape,
                         "backward of \(node.op): grad \(Shape.describe(gi.shape)) for input \(Shape.describe(input.shape))")
            let key = ObjectIdentifier(input)
            if createGraph {
                grads[key] = grads[key].map { $0 + gi } ?? gi
            } else if let sum = grads[key] {
                // Off the tape a gradient accumulates in place, into a buffer made here (the first
                // contribution may share storage with another: add's backward passes g through).
                if owned.contains(key) { addInPlace(sum.value, gi.value) }
                else { grads[key] = Variable(binary(.add, sum.value, gi.value)); owned.insert(key) }
            } else {
                grads[key] = gi.detached
            }
        }
    }
    for x in inputs { report(ObjectIdentifier(x)) }
    return inputs.map { x in
        grads[ObjectIdentifier(x)] ?? Variable(Tensor(zeros: x.shape, dtype: x.dtype))
    }
}

/// Nodes reachable from `root` through inputs that require a gradient, inputs before users;
/// the inputs of `boundary` variables are not followed.
/// Iterative depth-first search: double-backprop graphs of a ResNet are deep.
func topologicalOrder(from root: Variable, boundary: Set<ObjectIdentifier> = []) -> [Variable] {
    var order: [Variable] = []
    var visited = Set<ObjectIdentifier>()
    var stack: [(Variable, Int)] = [(root, 0)]
    visited.insert(ObjectIdentifier(root))
    while let (v, next) = stack.last {
        let inputs = boundary.contains(ObjectIdentifier(v)) ? [] : v.node?.inputs ?? []
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
