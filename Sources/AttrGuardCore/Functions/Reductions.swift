/// Reductions composed from `sum(toShape:)`.
extension Variable {
    /// Sum of every element: a one-element tensor of shape [].
    public func sum() -> Variable { sum(toShape: []) }

    /// Sum over `axes`, keeping them as size-1 axes.
    public func sum(axes: [Int]) -> Variable { sum(toShape: reducedShape(shape, axes: axes)) }

    /// Mean over `axes`, keeping them as size-1 axes.
    public func mean(axes: [Int]) -> Variable {
        let n = axes.reduce(1) { $0 * shape[$1] }
        return sum(axes: axes) * (1.0 / Double(n))
    }

    public func mean() -> Variable { sum() * (1.0 / Double(value.count)) }

    /// [B, ...] -> [B, rest].
    public func flattenedBatch() -> Variable {
        require(shape.count >= 1, "flatten: needs a batch axis, got a scalar")
        return reshaped([shape[0], value.count / Swift.max(shape[0], 1)])
    }
}
