import COpenBLAS
import Foundation

/// The element type of a tensor, chosen at run time (a config or `--dtype` picks it).
/// Float32 is the training type; Float64 exists for gradient checks and golden references.
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case float32, float64

    public var byteSize: Int { self == .float32 ? 4 : 8 }
    public var description: String { rawValue }
}

/// What a kernel needs of its element type. Kernels are generic over `Scalar` and are
/// instantiated for `Float` and `Double` inside this module (the dtype switch in `Tensor`),
/// so the optimiser specialises every loop: no generic dispatch in hot code.
public protocol Scalar: BinaryFloatingPoint, SIMDScalar, Sendable {
    static var dtype: DType { get }
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func log1p(_ x: Self) -> Self
    /// exp in the precision the hot elementwise loops use (vectorisable for Float, libm for Double).
    static func loopExp(_ x: Self) -> Self
    /// log(1 + t) for t in [0, 1], likewise.
    static func loopLog1p(_ t: Self) -> Self
    /// C = alpha * op(A) * op(B) + beta * C, row-major.
    static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Self,
                     a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
}

@inline(__always) private func cblasTrans(_ t: Bool) -> CBLAS_TRANSPOSE { t ? CblasTrans : CblasNoTrans }

extension Float: Scalar {
    public static var dtype: DType { .float32 }
    @inline(__always) public static func exp(_ x: Float) -> Float { Foundation.expf(x) }
    @inline(__always) public static func log(_ x: Float) -> Float { Foundation.logf(x) }
    @inline(__always) public static func log1p(_ x: Float) -> Float { Foundation.log1pf(x) }
    @inline(__always) public static func loopExp(_ x: Float) -> Float { fastExp(x) }
    @inline(__always) public static func loopLog1p(_ t: Float) -> Float { fastLog1p(t) }
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, cblasTrans(transA), cblasTrans(transB), blasint(m), blasint(n), blasint(k),
                    alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }
}

extension Double: Scalar {
    public static var dtype: DType { .float64 }
    @inline(__always) public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) public static func log(_ x: Double) -> Double { Foundation.log(x) }
    @inline(__always) public static func log1p(_ x: Double) -> Double { Foundation.log1p(x) }
    @inline(__always) public static func loopExp(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) public static func loopLog1p(_ t: Double) -> Double { Foundation.log1p(t) }
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double,
                            a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
                            beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        cblas_dgemm(CblasRowMajor, cblasTrans(transA), cblasTrans(transB), blasint(m), blasint(n), blasint(k),
                    alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }
}
