/// A node of the define-by-run tape: a value, and (when it depends on something that needs a
/// gradient) the op that made it, its inputs and its backward rule.
///
/// Backward rules are written with `Variable` ops. `grad(of:wrt:createGraph:)` runs them on the
/// real inputs when a graph is wanted, so the gradients are themselves on the tape and can be
/// differentiated again (double backprop, any order), or on detached copies otherwise, so
/// nothing is recorded.
public final class Variable: CustomStringConvertible {
    public let value: Tensor
    public let requiresGrad: Bool
    let node: Node?

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

    public var shape: [Int] { value.shape }
    public var dtype: DType { value.dtype }
    public var isLeaf: Bool { node == nil }

    /// The same value, cut from the tape.
    public var detached: Variable { Variable(value) }

    public var description: String { "Variable(\(node?.op ?? (requiresGrad ? "leaf" : "constant")), \(value))" }
}

/// What a backward rule receives. `inputs` and `output` are the real tape variables when a
/// graph is being recorded, detached constants otherwise; rules must use only these (and plain
/// data such as shapes and indices they captured), never variables captured from the forward.
public struct BackwardContext {
    public let grad: Variable
    public let inputs: [Variable]
    public let output: Variable
    /// Whether input i needs a gradient; a rule may return nil for the others.
    public let needs: [Bool]
}

struct Node {
    let op: String
    let inputs: [Variable]
    let backward: (BackwardContext) -> [Variable?]
}

extension Variable {
    /// Records the result of an op. No node is kept when no input needs a gradient.
    public static func record(_ op: String, _ value: Tensor, inputs: [Variable],
                              backward: @escaping (BackwardContext) -> [Variable?]) -> Variable {
        guard inputs.contains(where: { $0.requiresGrad }) else { return Variable(value) }
        return Variable(value: value, node: Node(op: op, inputs: inputs, backward: backward))
    }
}
