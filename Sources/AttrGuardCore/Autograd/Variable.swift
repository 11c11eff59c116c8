/// A node of the define-by-run tape: a value, and (when it depends on something that needs a
/// gradient) the op that made it, its inputs and its backward rule.
///
/// Backward rules are written with `Variable` ops. `grad(of:wrt:createGraph:)` runs them on the
/// real inputs when a graph is wanted, so the gradients are themselves on the tape and can be
/// differentiated again (double backprop, any order), or on detached copies otherwise, so
/// nothing is recorded.
public final class Variable: CustomStringConvertible {
    public let value: Tensor
    /// Whether gradients flow to this variable (a leaf that is differentiated, or any op result depending on one).
    public let requiresGrad: Bool
    /// Dropped (see `releaseNode`) once a releasing backward has differentiated through it.
    private(set) var node: Node?

    /// A leaf: a parameter (`requiresGrad: true`) or a constant.
    public init(_ value: Tensor, requiresGrad: Bool = false) {
        self.value = value
        self.requiresGrad = requiresGrad
        self.node = nil
    }

    init(value: Tensor, node: Node?) {
        self.value = value
        self.requiresGrad = node != nil
        self.node = node
    }

    /// Forgets the op that made this value, so its inputs (and what they keep) can be freed:
    /// a backward that will not run again does this as it goes (PyTorch's retain_graph=False).
    func releaseNode() { node = nil }

    public var shape: [Int] { value.shape }
    public var dtype: DType { value.dtype }
    /// True for inputs and constants, false for the result of a recorded op.
    public var isLeaf: Bool { node == nil }

    /// The same value, cut from the tape.
    public var detached: Variable { Variable(value) }

    public var description: String { "Variable(\(node?.op ?? (requiresGrad ? "leaf" : "constant")), \(value))" }
}

/// What a backward rule receives. `inputs` and `output` are the real tape variables when a
/// graph is being recorded, detached constants otherwise; rules must use only these (and plain
/// data such as shapes and indices they captured), never variables captured from the forward.
public struct BackwardContext {
    /// ∂L/∂output, on the tape when the backward records its graph.
    public let grad: Variable
    /// The op's inputs, and its output (backward rules may reuse it: exp, sigmoid, division).
    public let inputs: [Variable]
    public let output: Variable
    /// Whether input i needs a gradient; a rule may return nil for the others.
    public let needs: [Bool]
    /// Whether the backward is being recorded (`inputs` are then the real tape variables).
    public let createGraph: Bool
}

/// A backward rule that differentiates `composite`, the op written with other primitives, at the
/// context's inputs (each treated as an independent argument): for fused kernels whose own
/// derivative is rarely needed (third order), exact at any order without a hand-written rule.
public func compositeBackward(_ ctx: BackwardContext, _ composite: ([Variable]) -> Variable) -> [Variable?] {
    // The composite is built on leaves that stand for the inputs: on the tape the gradient stops
    // there (partial derivatives), off it nothing is recorded.
    if ctx.createGraph {
        // One variable per argument slot: a variable passed twice (u = g) gets an identity alias,
        // so each slot receives its own partial derivative.
        var seen = Set<ObjectIdentifier>()
        let slots = ctx.inputs.map { v in seen.insert(ObjectIdentifier(v)).inserted ? v : v.affine(scale: 1) }
        return try! grad(of: composite(slots), wrt: slots, seed: ctx.grad, createGraph: true, stopAtInputs: true)
    }
    let leaves = ctx.inputs.map { Variable($0.value, requiresGrad: true) }
    return try! grad(of: composite(leaves), wrt: leaves, seed: ctx.grad).map(\.detached)
}

struct Node {
    let op: String
    let inputs: [Variable]
    let backward: (BackwardContext) -> [Variable?]
    /// The layer kind that recorded it, when an OpProfiler is bound (its backward is charged there).
    let layer: String?
}

extension Variable {
    /// Computes an op's value and records it. No node is kept when no input needs a gradient.
    /// The value is computed here (not by the caller) so that a bound OpProfiler can time it.
    public static func record(_ op: String, _ value: @autoclosure () -> Tensor, inputs: [Variable],
                              backward: @escaping (BackwardContext) -> [Variable?]) -> Variable {
        let profiling = OpProfiler.current != nil
        // Profile keys are op kinds: "affine(scale: 2.0, shift: 0.0)" counts as "affine".
        let v = profiling ? OpProfiler.measure(String(op.prefix { $0 != "(" }), flops: { denseFlops(op, inputs.map(\.shape), output: $0.shape) }, value) : value()
        guard inputs.contains(where: { $0.requiresGrad }) else { return Variable(v) }
        return Variable(value: v, node: Node(op: op, inputs: inputs, backward: backward, layer: profiling ? OpProfiler.layer : nil))
    }
}
