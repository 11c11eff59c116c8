import CDNNL
import Foundation

/// The three Float32 convolution kernels on oneDNN (the library PyTorch's CPU convolutions run
/// on), in the blocked layouts oneDNN prefers for this CPU, with reorders from and to our plain
/// NCHW / OIHW tensors around each call.
///
///   forward        y[B,O,P,Q]   = conv(x[B,C,H,W], w[O,C,k,k])          convolution forward
///   inputGrad      dx[B,C,H,W]  = convᵀ(dy[B,O,P,Q], w)                 convolution backward data
///   weightGrad     dw[O,C,k,k]  = Σ_b dy[b] ⋆ x[b]                      convolution backward weights
///
/// Each kernel runs one of two algorithms (`Algorithm`): direct convolution (what PyTorch runs)
/// or Winograd F(4×4, 3×3) for the 3×3 stride-1 layers where it measures faster. They are the
/// same three maps as the im2col kernels in Convolution.swift (the reference the tests compare
/// against), so the autograd rules are unchanged. Primitive creation goes through oneDNN's own
/// primitive cache (keyed by shapes), so a step re-uses the JIT kernels.
enum OneDNN {
    /// The CPU engine, created on first use (a handle, never mutated). oneDNN runs on OpenMP: see
    /// `setThreadsForRanks`.
    nonisolated(unsafe) static let engine: dnnl_engine_t = {
        setThreadsForRanks()
        CPUISA.capOneDNN()
        var engine: dnnl_engine_t?
        check(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine")
        return engine!
    }()

    /// A stream per call: CPU execution is synchronous, and a stream must not be shared by
    /// threads (tests run concurrently).
    static func withStream(_ body: (dnnl_stream_t) -> Void) {
        var stream: dnnl_stream_t?
        check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "stream")
        defer { dnnl_stream_destroy(stream) }
        body(stream!)
        check(dnnl_stream_wait(stream), "stream wait")
    }

    /// One thread knob for both libraries: OMP_NUM_THREADS if set, else OPENBLAS_NUM_THREADS,
    /// else one thread when several ranks share the node (OpenMP's default of every core per
    /// rank would oversubscribe it), else OpenMP's default.
    private static func setThreadsForRanks() {
        let env = ProcessInfo.processInfo.environment
        guard env["OMP_NUM_THREADS"] == nil else { return }
        let localRanks = Int(env["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? env["SLURM_NTASKS_PER_NODE"] ?? "") ?? 1
        guard let threads = Int32(env["OPENBLAS_NUM_THREADS"] ?? "") ?? (localRanks > 1 ? 1 : nil), threads >= 1 else { return }
        KernelThreads.setOpenMPThreads(threads)
    }

    static func check(_ status: dnnl_status_t, _ what: String) {
        require(status == dnnl_success, "oneDNN \(what) failed with status \(status.rawValue)")
    }

    /// A plain (row-major) f32 descriptor: nchw for activations, oihw for weights (same bytes).
    static func plain(_ dims: [Int]) -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        check(dnnl_memory_desc_init_by_tag(&md, 4, dims.map(Int64.init), dnnl_f32, dnnl_nchw), "plain descriptor")
        return md
    }

    /// Layout left to the primitive.
    static func any(_ dims: [Int]) -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        check(dnnl_memory_desc_init_by_tag(&md, 4, dims.map(Int64.init), dnnl_f32, dnnl_format_tag_any), "descriptor")
        return md
    }

    /// One argument of a primitive call: our tensor memory and whether the primitive writes it.
    struct Argument {
        let id: Int32
        let query: dnnl_query_t
        let dims: [Int]
        let data: UnsafeMutableRawPointer
        let isOutput: Bool
    }

    /// Runs the primitive of `pd` on `arguments`, reordering each one whose preferred layout
    /// differs from plain through a temporary buffer (inputs before, outputs after).
    static func execute(_ pd: dnnl_primitive_desc_t, _ arguments: [Argument]) {
        var memories: [dnnl_memory_t] = []
        var buffers: [UnsafeMutableRawPointer] = []
        var execArgs: [dnnl_exec_arg_t] = []
        var inputReorders: [(from: dnnl_memory_t, to: dnnl_memory_t)] = []
        var outputReorders: [(from: dnnl_memory_t, to: dnnl_memory_t)] = []
        defer {
            for m in memories { dnnl_memory_destroy(m) }
            for b in buffers { b.deallocate() }
        }
        func memory(_ md: UnsafePointer<dnnl_memory_desc_t>, _ data: UnsafeMutableRawPointer) -> dnnl_memory_t {
            var m: dnnl_memory_t?
            check(dnnl_memory_create(&m, md, engine, data), "memory")
            memories.append(m!)
            return m!
        }
        for a in arguments {
            var user = plain(a.dims)
            let userMemory = memory(&user, a.data)
            let preferred = dnnl_primitive_desc_query_md(pd, a.query, 0)!
            if dnnl_memory_desc_equal(preferred, &user) != 0 {
                execArgs.append(dnnl_exec_arg_t(arg: a.id, memory: userMemory))
                continue
            }
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(64, dnnl_memory_desc_get_size(preferred)), alignment: 64)
            buffers.append(buffer)
            let blocked = memory(preferred, buffer)
            execArgs.append(dnnl_exec_arg_t(arg: a.id, memory: blocked))
            if a.isOutput { outputReorders.append((blocked, userMemory)) } else { inputReorders.append((userMemory, blocked)) }
        }
        var primitive: dnnl_primitive_t?
        check(dnnl_primitive_create(&primitive, pd), "primitive")
        defer { dnnl_primitive_destroy(primitive) }
        withStream { stream in
            for r in inputReorders { reorder(r.from, r.to, stream) }
            check(dnnl_primitive_execute(primitive, stream, Int32(execArgs.count), execArgs), "execute")
            for r in outputReorders { reorder(r.from, r.to, stream) }
        }
    }

    private static func reorder(_ from: dnnl_memory_t, _ to: dnnl_memory_t, _ stream: dnnl_stream_t) {
        var fromMD: UnsafePointer<dnnl_memory_desc_t>?, toMD: UnsafePointer<dnnl_memory_desc_t>?
        check(dnnl_memory_get_memory_desc(from, &fromMD), "memory descriptor")
        check(dnnl_memory_get_memory_desc(to, &toMD), "memory descriptor")
        var pd: dnnl_primitive_desc_t?
        check(dnnl_reorder_primitive_desc_create(&pd, fromMD, engine, toMD, engine, nil), "reorder descriptor")
        defer { dnnl_primitive_desc_destroy(pd) }
        var primitive: dnnl_primitive_t?
        check(dnnl_primitive_create(&primitive, pd), "reorder primitive")
        defer { dnnl_primitive_destroy(primitive) }
        let args = [dnnl_exec_arg_t(arg: 1 /* DNNL_ARG_FROM */, memory: from), dnnl_exec_arg_t(arg: 17 /* DNNL_ARG_TO */, memory: to)]
        check(dnnl_primitive_execute(primitive, stream, 2, args), "reorder")
    }

    enum Kernel: String { case forward, backwardData = "backward data", backwardWeights = "backward weights" }

    /// How a kernel computes the convolution.
    enum Algorithm {
        /// Direct convolution: PyTorch's choice, exact up to Float32 summation order.
        case direct
        /// Winograd F(4×4, 3×3): 2.25× fewer multiplications through 6×6 tile transforms; relative
        /// error about 1e-6–1e-5 of the output's scale instead of 1e-7 (ConvolutionPathTests).
        case winograd

        /// Winograd where `attrguard bench conv` measured it faster on AVX-512 (2–2.4× on
        /// forward and backward data from 8×8 maps, on backward weights from 16×16 maps), and
        /// not on images (3 channels), stride 2, 1×1, or 4×4 maps (there it is 2× slower).
        static func fastest(_ kernel: Kernel, _ g: ConvGeometry, outChannels: Int) -> Algorithm {
            let minimumMap = kernel == .backwardWeights ? 16 : 8
            let fits = g.kernel == 3 && g.stride == 1 && g.padding == 1 && g.channels >= 16 && outChannels >= 16
            return fits && min(g.outHeight, g.outWidth) >= minimumMap ? .winograd : .direct
        }

        var kind: dnnl_alg_kind_t { self == .winograd ? dnnl_convolution_winograd : dnnl_convolution_direct }
    }

    /// The primitive descriptor of one of the three kernels for batch `batch` and `outChannels`
    /// filters (the backward ones need the forward one of the same algorithm as their hint), or
    /// nil where oneDNN has no implementation of `algorithm` for it.
    static func descriptor(_ kernel: Kernel, _ algorithm: Algorithm, _ g: ConvGeometry, batch: Int, outChannels: Int,
                           hint: dnnl_primitive_desc_t? = nil) -> dnnl_primitive_desc_t? {
        var src = any([batch, g.channels, g.height, g.width]), wei = any([outChannels, g.channels, g.kernel, g.kernel])
        var dst = any([batch, outChannels, g.outHeight, g.outWidth])
        var cd = dnnl_convolution_desc_t()
        let strides: [Int64] = [Int64(g.stride), Int64(g.stride)], pad: [Int64] = [Int64(g.padding), Int64(g.padding)]
        let status: dnnl_status_t
        switch kernel {
        case .forward:
            status = dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, algorithm.kind, &src, &wei, nil, &dst,
                                                        strides, pad, pad)
        case .backwardData:
            status = dnnl_convolution_backward_data_desc_init(&cd, algorithm.kind, &src, &wei, &dst, strides, pad, pad)
        case .backwardWeights:
            status = dnnl_convolution_backward_weights_desc_init(&cd, algorithm.kind, &src, &wei, nil, &dst, strides, pad, pad)
        }
        check(status, "convolution \(kernel.rawValue) descriptor (\(g))")
        var pd: dnnl_primitive_desc_t?
        let created = dnnl_primitive_desc_create(&pd, &cd, nil, engine, hint)
        if created == dnnl_unimplemented && algorithm == .winograd { return nil }
        check(created, "convolution \(kernel.rawValue) (\(g))")
        return pd!
    }

    /// The descriptor of `kernel` with the algorithm `path` asks for (direct where oneDNN has no
    /// Winograd for the shape), and its forward hint; the caller destroys both.
    private static func descriptors(_ kernel: Kernel, _ path: ConvolutionPath, _ g: ConvGeometry, batch: Int, outChannels: Int)
        -> (pd: dnnl_primitive_desc_t, hint: dnnl_primitive_desc_t?) {
        let algorithm = path == .onednn ? Algorithm.fastest(kernel, g, outChannels: outChannels) : .direct
        for a in algorithm == .winograd ? [Algorithm.winograd, .direct] : [.direct] {
            guard let forward = descriptor(.forward, a, g, batch: batch, outChannels: outChannels) else { continue }
            if kernel == .forward { return (forward, nil) }
            if let pd = descriptor(kernel, a, g, batch: batch, outChannels: outChannels, hint: forward) { return (pd, forward) }
            dnnl_primitive_desc_destroy(forward)
        }
        fatalError("unreachable: direct convolution descriptors never return nil")
    }

    /// Runs `kernel` on the three tensors: image-sized, weight-sized, output-sized.
    private static func run(_ kernel: Kernel, _ path: ConvolutionPath, _ g: ConvGeometry, batch: Int, outChannels: Int,
                            image: Argument, weight: Argument, output: Argument) {
        let (pd, hint) = descriptors(kernel, path, g, batch: batch, outChannels: outChannels)
        defer { dnnl_primitive_desc_destroy(pd); if let hint { dnnl_primitive_desc_destroy(hint) } }
        execute(pd, [image, weight, output])
    }

    /// y[B,O,P,Q] = conv(x, w) into `y`.
    static func forward(x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                        _ g: ConvGeometry, batch: Int, outChannels: Int, path: ConvolutionPath) {
        run(.forward, path, g, batch: batch, outChannels: outChannels,
            image: Argument(id: 1, query: dnnl_query_src_md, dims: [batch, g.channels, g.height, g.width], data: .init(mutating: x), isOutput: false),
            weight: Argument(id: 33, query: dnnl_query_weights_md, dims: [outChannels, g.channels, g.kernel, g.kernel], data: .init(mutating: w), isOutput: false),
            output: Argument(id: 17, query: dnnl_query_dst_md, dims: [batch, outChannels, g.outHeight, g.outWidth], data: .init(y), isOutput: true))
    }

    /// dx[B,C,H,W] = convᵀ(dy, w) into `dx`.
    static func inputGrad(dy: UnsafePointer<Float>, w: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                          _ g: ConvGeometry, batch: Int, outChannels: Int, path: ConvolutionPath) {
        run(.backwardData, path, g, batch: batch, outChannels: outChannels,
            image: Argument(id: 129, query: dnnl_query_diff_src_md, dims: [batch, g.channels, g.height, g.width], data: .init(dx), isOutput: true),
            weight: Argument(id: 33, query: dnnl_query_weights_md, dims: [outChannels, g.channels, g.kernel, g.kernel], data: .init(mutating: w), isOutput: false),
            output: Argument(id: 145, query: dnnl_query_diff_dst_md, dims: [batch, outChannels, g.outHeight, g.outWidth], data: .init(mutating: dy), isOutput: false))
    }

    /// dw[O,C,k,k] = Σ_b dy[b] ⋆ x[b] into `dw` (overwritten).
    static func weightGrad(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>,
                           _ g: ConvGeometry, batch: Int, outChannels: Int, path: ConvolutionPath) {
        run(.backwardWeights, path, g, batch: batch, outChannels: outChannels,
            image: Argument(id: 1, query: dnnl_query_src_md, dims: [batch, g.channels, g.height, g.width], data: .init(mutating: x), isOutput: false),
            weight: Argument(id: 161, query: dnnl_query_diff_weights_md, dims: [outChannels, g.channels, g.kernel, g.kernel], data: .init(dw), isOutput: true),
            output: Argument(id: 145, query: dnnl_query_diff_dst_md, dims: [batch, outChannels, g.outHeight, g.outWidth], data: .init(mutating: dy), isOutput: false))
    }

    /// The implementations oneDNN runs for the three kernels on `path`, e.g.
    /// "jit_wino_4x3:avx512_core / jit_wino_4x3:avx512_core / jit:avx512_core".
    static func implementations(_ g: ConvGeometry, batch: Int, outChannels: Int, path: ConvolutionPath) -> String {
        [Kernel.forward, .backwardData, .backwardWeights].map { kernel in
            implementation(kernel, g, batch: batch, outChannels: outChannels, path: path)
        }.joined(separator: " / ")
    }

    /// The implementation oneDNN runs for one kernel on `path`, e.g. "jit:avx2".
    static func implementation(_ kernel: Kernel, _ g: ConvGeometry, batch: Int, outChannels: Int, path: ConvolutionPath) -> String {
        let (pd, hint) = descriptors(kernel, path, g, batch: batch, outChannels: outChannels)
        defer { dnnl_primitive_desc_destroy(pd); if let hint { dnnl_primitive_desc_destroy(hint) } }
        var name: UnsafePointer<CChar>?
        check(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name), "implementation query")
        return String(cString: name!)
    }
}
