/// op(A) · op(B) for 2-d tensors through cblas ?gemm. op(X) is X or Xᵀ.
/// A: [M,K] (or [K,M] when transposed), B: [K,N] (or [N,K]) -> [M,N].
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
    require(a.rank == 2 && b.rank == 2,
                 "matmul: needs 2-d operands, got \(Shape.describe(a.shape)) and \(Shape.describe(b.shape))")
    require(a.dtype == b.dtype, "matmul: dtypes differ (\(a.dtype) vs \(b.dtype))")
    let m = transposeA ? a.shape[1] : a.shape[0], k = transposeA ? a.shape[0] : a.shape[1]
    let k2 = transposeB ? b.shape[1] : b.shape[0], n = transposeB ? b.shape[0] : b.shape[1]
    require(k == k2, "matmul: inner sizes differ: \(Shape.describe(a.shape))\(transposeA ? "ᵀ" : "") · "
                 + "\(Shape.describe(b.shape))\(transposeB ? "ᵀ" : "")")
    guard m > 0, n > 0, k > 0 else { return Tensor(zeros: [m, n], dtype: a.dtype) }
    let out = Tensor(uninitialized: [m, n], dtype: a.dtype)   // gemm with beta 0 writes every element
    switch a.dtype {
    case .float32:
        Float.gemm(transA: transposeA, transB: transposeB, m: m, n: n, k: k, alpha: 1, a: a.pointer(Float.self),
                   lda: a.shape[1], b: b.pointer(Float.self), ldb: b.shape[1], beta: 0,
                   c: out.mutablePointer(Float.self), ldc: n)
    case .float64:
        Double.gemm(transA: transposeA, transB: transposeB, m: m, n: n, k: k, alpha: 1, a: a.pointer(Double.self),
                    lda: a.shape[1], b: b.pointer(Double.self), ldb: b.shape[1], beta: 0,
                    c: out.mutablePointer(Double.self), ldc: n)
    }
    return out
}
