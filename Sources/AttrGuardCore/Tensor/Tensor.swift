/// A dense, contiguous, row-major array of `Float` or `Double` elements.
///
/// A value type over a shared `Storage`: reshaping shares memory, kernels write new tensors.
/// `offset` lets a tensor be a named view into a larger buffer (a flat parameter or gradient
/// buffer that MPI all-reduces in one call).
public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    public let shape: [Int]
    /// The buffer this tensor is a view of (shared between views: a slot of a flat buffer is a tensor too).
    public let storage: Storage
    /// Where the view starts in `storage`, in elements.
    public let offset: Int

    public var dtype: DType { storage.dtype }
    public var count: Int { Shape.count(shape) }
    public var rank: Int { shape.count }

    /// A row-major view of `Shape.count(shape)` elements of `storage` from `offset`.
    public init(storage: Storage, shape: [Int], offset: Int = 0) {
        require(offset + Shape.count(shape) <= storage.count,
                     "Tensor view \(Shape.describe(shape)) at offset \(offset) exceeds its storage of \(storage.count)")
        self.storage = storage
        self.shape = shape
        self.offset = offset
    }

    /// Zero-filled tensor.
    public init(zeros shape: [Int], dtype: DType) {
        self.init(storage: Storage(zeros: Shape.count(shape), dtype: dtype), shape: shape)
    }

    /// Uninitialised tensor, for kernels that write every element.
    init(uninitialized shape: [Int], dtype: DType) {
        self.init(storage: Storage(uninitialized: Shape.count(shape), dtype: dtype), shape: shape)
    }

    /// A tensor from row-major values, converted to `dtype`.
    public init(shape: [Int], values: [Double], dtype: DType) {
        require(Shape.count(shape) == values.count,
                     "Tensor(shape: \(Shape.describe(shape))) needs \(Shape.count(shape)) values, got \(values.count)")
        self.init(uninitialized: shape, dtype: dtype)
        switch dtype {
        case .float32: mutablePointer(Float.self).update(from: values.map(Float.init), count: values.count)
        case .float64: mutablePointer(Double.self).update(from: values, count: values.count)
        }
    }

    /// A Float32 tensor holding `floats` (row-major).
    public init(shape: [Int], floats: [Float]) {
        require(Shape.count(shape) == floats.count,
                     "Tensor(shape: \(Shape.describe(shape))) needs \(Shape.count(shape)) values, got \(floats.count)")
        self.init(uninitialized: shape, dtype: .float32)
        mutablePointer(Float.self).update(from: floats, count: floats.count)
    }

    /// A tensor of one repeated value.
    public init(repeating value: Double, shape: [Int], dtype: DType) {
        self.init(uninitialized: shape, dtype: dtype)
        switch dtype {
        case .float32: mutablePointer(Float.self).update(repeating: Float(value), count: count)
        case .float64: mutablePointer(Double.self).update(repeating: value, count: count)
        }
    }

    /// A rank-0 tensor.
    public static func scalar(_ value: Double, dtype: DType) -> Tensor { Tensor(repeating: value, shape: [], dtype: dtype) }

    /// Typed element pointer; the caller must know the dtype (checked).
    @inline(__always) public func pointer<T: Scalar>(_: T.Type) -> UnsafePointer<T> {
        require(T.dtype == dtype, "Tensor of \(dtype) read as \(T.dtype)")
        return UnsafePointer(storage.base.assumingMemoryBound(to: T.self) + offset)
    }

    /// Writable element pointer. Tensors are values: write only into a tensor you just made
    /// or one you own exclusively (optimizer state, a flat buffer).
    @inline(__always) public func mutablePointer<T: Scalar>(_: T.Type) -> UnsafeMutablePointer<T> {
        require(T.dtype == dtype, "Tensor of \(dtype) written as \(T.dtype)")
        return storage.base.assumingMemoryBound(to: T.self) + offset
    }

    /// The first element's address, untyped: for C interop (MPI buffers, file I/O).
    public var rawPointer: UnsafeMutableRawPointer { storage.base + offset * dtype.byteSize }

    /// Elements as Double (tests, checks, file output).
    public var doubles: [Double] {
        switch dtype {
        case .float32: return UnsafeBufferPointer(start: pointer(Float.self), count: count).map(Double.init)
        case .float64: return Array(UnsafeBufferPointer(start: pointer(Double.self), count: count))
        }
    }

    public var floats: [Float] {
        switch dtype {
        case .float32: return Array(UnsafeBufferPointer(start: pointer(Float.self), count: count))
        case .float64: return UnsafeBufferPointer(start: pointer(Double.self), count: count).map(Float.init)
        }
    }

    /// The single element of a one-element tensor.
    public var item: Double {
        require(count == 1, "item needs a one-element tensor, got \(Shape.describe(shape))")
        return dtype == .float32 ? Double(pointer(Float.self)[0]) : pointer(Double.self)[0]
    }

    /// Same elements, new shape (shares storage).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        require(Shape.count(newShape) == count,
                     "reshape: cannot view \(Shape.describe(shape)) (\(count) elements) as \(Shape.describe(newShape))")
        return Tensor(storage: storage, shape: newShape, offset: offset)
    }

    /// A copy with its own storage, converted to `dtype`.
    public func converted(to newType: DType) -> Tensor {
        var out = Tensor(uninitialized: shape, dtype: newType)
        out.copyElements(from: self)
        return out
    }

    /// A tensor with its own storage holding the same values.
    public func copy() -> Tensor { converted(to: dtype) }

    /// Overwrite every element with `source`'s (same count; dtype converted).
    public mutating func copyElements(from source: Tensor) {
        require(source.count == count, "copy: \(Shape.describe(source.shape)) into \(Shape.describe(shape))")
        switch (source.dtype, dtype) {
        case (.float32, .float32): mutablePointer(Float.self).update(from: source.pointer(Float.self), count: count)
        case (.float64, .float64): mutablePointer(Double.self).update(from: source.pointer(Double.self), count: count)
        case (.float32, .float64):
            let s = source.pointer(Float.self), d = mutablePointer(Double.self)
            for i in 0..<count { d[i] = Double(s[i]) }
        case (.float64, .float32):
            let s = source.pointer(Double.self), d = mutablePointer(Float.self)
            for i in 0..<count { d[i] = Float(s[i]) }
        }
    }

    public var description: String {
        let v = doubles
        let shown = v.prefix(8).map { String(format: "%.5g", $0) }.joined(separator: ", ")
        return "Tensor<\(dtype)>\(Shape.describe(shape)) [\(shown)\(v.count > 8 ? ", …" : "")]"
    }
}

import Foundation
