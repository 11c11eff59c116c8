/// A reference-counted, 64-byte-aligned block of elements. Tensors share storages;
/// a reshape or a named view into a flat parameter buffer is a new `Tensor` over the same one.
public final class Storage: @unchecked Sendable {
    public let dtype: DType
    public let count: Int
    let base: UnsafeMutableRawPointer
    /// The profiler bound when it was allocated, told when it is freed (live-memory peak).
    private let profiler: OpProfiler?

    /// Fresh, uninitialised memory (kernels that write every element use this).
    init(uninitialized count: Int, dtype: DType) {
        self.dtype = dtype
        self.count = count
        base = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * dtype.byteSize, alignment: 64)
        profiler = OpProfiler.current
        profiler?.allocated(count * dtype.byteSize)
    }

    /// Zero-filled memory.
    convenience init(zeros count: Int, dtype: DType) {
        self.init(uninitialized: count, dtype: dtype)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1) * dtype.byteSize)
    }

    deinit {
        base.deallocate()
        profiler?.freed(count * dtype.byteSize)
    }
}
