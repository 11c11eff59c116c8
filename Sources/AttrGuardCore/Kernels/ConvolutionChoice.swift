import CDNNL
import COpenBLAS
import Foundation

/// The instruction sets our kernels and oneDNN may use: the CPU's, capped by ATTRGUARD_MAX_ISA
/// (`avx2` or `avx512`) to measure an AVX2 host's behaviour on an AVX-512 one. The cap reaches
/// oneDNN (`dnnl_set_max_cpu_isa`, before its first primitive) and the kernel choice below;
/// OpenBLAS picks its kernels when it loads, so capping it takes OPENBLAS_CORETYPE=Haswell in the
/// environment (launch/bench-vs-torch.sh --isa avx2 sets both).
public enum CPUISA: String, Sendable, Comparable {
    case avx2, avx512

    /// This CPU's, after the cap.
    public static let current: CPUISA = {
        let native: CPUISA = hasAVX512 ? .avx512 : .avx2
        guard let cap = ProcessInfo.processInfo.environment["ATTRGUARD_MAX_ISA"]?.lowercased() else { return native }
        guard let capped = CPUISA(rawValue: cap) else {
            fatalError("ATTRGUARD_MAX_ISA=\(cap): expected avx2 or avx512")
        }
        return min(native, capped)
    }()

    private static let hasAVX512: Bool = {
        // AVX-512 as oneDNN's avx512_core needs it (F, BW, VL, DQ), read from the kernel's flags.
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        let set = Set(flags.split(separator: " ").map(String.init))
        return ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy(set.contains)
    }()

    public static func < (a: CPUISA, b: CPUISA) -> Bool { a == .avx2 && b == .avx512 }

    /// Applies the cap to oneDNN; called once, before the engine is created.
    static func capOneDNN() {
        guard current == .avx2 else { return }
        _ = dnnl_set_max_cpu_isa(dnnl_cpu_isa_avx2)
    }
}

/// Which code computes one of a convolution's three kernels.
public enum ConvolutionImplementation: Equatable, Sendable, CustomStringConvertible {
    /// Our Winograd F(m×m, 3×3) at stride 1 or 2 (WinogradConvolution.swift).
    case winograd(tile: Int, stride: Int = 1)
    /// oneDNN on `path` (.onednn: its faster of direct and its own Winograd; .direct).
    case oneDNN(ConvolutionPath)
    /// im2col over groups of images + one BLAS GEMM per group (ConvolutionGEMM.swift).
    case gemm
    /// Our direct kernels for layers of few input channels (ImageConvolution.swift).
    case imageDirect
    /// im2col + BLAS, one image at a time: the reference, and Float64.
    case im2col

    public var description: String {
        switch self {
        case .winograd(let m, let stride): return stride == 1 ? "winograd_\(m)x3:avx2" : "winograd_\(m)x3s\(stride):avx2"
        case .oneDNN(let p): return "onednn(\(p.rawValue))"
        case .gemm: return "gemm"
        case .imageDirect: return "image_direct:avx2"
        case .im2col: return "im2col"
        }
    }
}

/// The three kernels of a convolution.
public enum ConvolutionKernel: String, Sendable, CaseIterable {
    case forward, inputGradient, weightGradient

    /// The implementation `path` runs for this kernel on a convolution of `g` with `outChannels`
    /// filters at batch `batch`. Deterministic for a CPU (after the ISA cap) and shape.
    public func implementation(_ path: ConvolutionPath, _ g: ConvGeometry, batch: Int, outChannels: Int)
        -> ConvolutionImplementation {
        switch path {
        case .im2col: return .im2col
        case .gemm: return .gemm
        case .direct, .onednn: return .oneDNN(path)
        case .winograd:
            guard Winograd.isSupported, Winograd.applies(to: g) else { return .oneDNN(.direct) }
            return .winograd(tile: (g.stride == 1 ? Self.pinnedTile : nil) ?? Self.tile(g), stride: g.stride)
        case .fastest:
            if Winograd.isSupported, Winograd.applies(to: g), let m = fastestTile(g, outChannels: outChannels) {
                return .winograd(tile: m, stride: g.stride)
            }
            if ImageConvolution.isSupported, ImageConvolution.applies(to: g), imageDirectIsFastest { return .imageDirect }
            // An image layer's input gradient: per-image im2col + OpenBLAS (its GEMM is 27 rows
            // tall; oneDNN's backward-data kernel for 3 channels runs at 14–26 GFLOP/s, grouping
            // the images only adds the gather: measured per image 55–62 / 69–81 GFLOP/s on AVX2 /
            // AVX-512, grouped 52–55 / 44–60).
            if g.channels < 16 && self == .inputGradient { return .im2col }
            return groupedGEMMIsFastest(g) ? .gemm : .oneDNN(.onednn)
        }
    }

    /// Where grouped GEMMs (ConvolutionGEMM.swift) are the fastest measured (`attrguard bench conv`,
    /// one thread; README, performance): on AVX2, every kernel of a strided layer of 16+ channels
    /// (ResNet-18's 3×3 and 1×1 stride-2 layers): oneDNN 2.6's direct kernels there reach 66–93
    /// GFLOP/s, OpenBLAS's AVX2 sgemm on the grouped columns 80–95. On AVX-512 oneDNN's direct
    /// kernels (86–117) stay.
    func groupedGEMMIsFastest(_ g: ConvGeometry) -> Bool {
        g.channels >= 16 && g.stride > 1 && CPUISA.current == .avx2 && KernelISA.openBLASVectorWidth >= 256
    }

    /// Where our direct kernels for the image layer (ImageConvolution.swift) are the fastest
    /// measured (`attrguard bench conv`, one thread): its forward map and weight gradient (ResNet-18's
    /// 3→64 and SmallCNN's 3→32 at 32²: forward 84–87 and weight gradient 100 GFLOP/s against
    /// oneDNN's 56–75 and 60–71 on AVX2). Its input gradient stays on per-image im2col.
    var imageDirectIsFastest: Bool { self != .inputGradient }

    /// While bound, the tile size of our kernels wherever they run (tests, measurements);
    /// ATTRGUARD_WINOGRAD_TILE=2|4|6 binds it for a process.
    @TaskLocal public static var pinnedTile: Int? = ProcessInfo.processInfo.environment["ATTRGUARD_WINOGRAD_TILE"].map { text in
        guard let m = Int(text), Winograd.tileSizes(stride: 1).contains(m) else { fatalError("ATTRGUARD_WINOGRAD_TILE=\(text): expected 2, 4 or 6") }
        return m
    }

    /// The tile size for an output map, at either stride: F(4×4) from 8×8 maps up (at stride 1 a
    /// quarter of direct convolution's multiplications), F(2×2) on smaller ones (a 4×4 map is one
    /// tile of F(4×4) an image, whose transformed domain is 4× (stride 1) or 5× (stride 2) the
    /// kernel's; F(2×2) has four tiles a map and measures faster).
    static func tile(_ g: ConvGeometry) -> Int {
        min(g.outHeight, g.outWidth) >= 8 ? 4 : 2
    }

    /// Our Winograd's tile where it is the fastest implementation measured on this ISA, or nil
    /// where oneDNN or grouped GEMMs are (`attrguard bench conv`, one thread; README, performance):
    /// - AVX2: every 3×3 stride-1 layer of 16+ channels (oneDNN 2.6 has no Winograd there; ours
    ///   measured 1.4–2.5× its direct kernels on the ResNet-18 and SmallCNN shapes);
    /// - AVX-512: stride-1 layers of 128+ channels (maps of 16×16 and below), where our transforms
    ///   with OpenBLAS's AVX-512 sgemm beat oneDNN's `jit_wino_4x3:avx512_core` (and its direct
    ///   weight gradient on 8×8 and direct kernels on 4×4); oneDNN's Winograd keeps the wider maps;
    /// - 3×3 stride-2 layers of 16+ channels: the weight gradient everywhere, the forward map and
    ///   the input gradient where the output is 8×8 and up, and on AVX2 onto smaller outputs too
    ///   (stride-2 F(4×4): 64→128 and 128→256 forward 105–129 and input gradient 100–118 GFLOP/s
    ///   against grouped GEMMs' 86–94 on AVX2 and oneDNN's 92–111 on AVX-512; 256→512 onto 4×4 on
    ///   F(2×2) 94–96 against grouped GEMMs' 86–92 on AVX2, 89–91 against oneDNN's 103–116 on
    ///   AVX-512; the weight gradient 93–120 against 85–95 everywhere).
    /// Our GEMMs are OpenBLAS's, so where OpenBLAS runs no AVX2 kernels (a CPU it does not know,
    /// e.g. "Prescott" without OPENBLAS_CORETYPE) oneDNN runs everything.
    func fastestTile(_ g: ConvGeometry, outChannels: Int) -> Int? {
        if g.stride == 1, let m = Self.pinnedTile { return m }
        // Image layers (3 channels): the transforms cost as much as the few multiplications saved.
        guard g.channels >= 16 && outChannels >= 16 else { return nil }
        if g.stride == 2 {
            guard KernelISA.openBLASVectorWidth >= 256 else { return nil }
            let ours = self == .weightGradient || min(g.outHeight, g.outWidth) >= 8 || CPUISA.current == .avx2
            return ours ? Self.tile(g) : nil
        }
        switch (CPUISA.current, KernelISA.openBLASVectorWidth) {
        case (.avx2, 256...): return Self.tile(g)
        case (.avx512, 512): return min(g.channels, outChannels) >= 128 ? Self.tile(g) : nil
        default: return nil
        }
    }
}

/// What each library runs on this CPU, for benchmark headers: the ISA our kernels and the kernel
/// choice assume (after ATTRGUARD_MAX_ISA), oneDNN's effective ISA and OpenBLAS's kernel family.
public enum KernelISA {
    public static var summary: [String: String] {
        _ = OneDNN.engine  // applies the cap before oneDNN is asked
        let oneDNN: String
        switch dnnl_get_effective_cpu_isa() {
        case dnnl_cpu_isa_avx2: oneDNN = "avx2"
        case dnnl_cpu_isa_avx2_vnni: oneDNN = "avx2_vnni"
        case dnnl_cpu_isa_avx512_core: oneDNN = "avx512_core"
        case dnnl_cpu_isa_avx512_core_vnni: oneDNN = "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core_bf16: oneDNN = "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_amx: oneDNN = "avx512_core_amx"
        case let other: oneDNN = "isa 0x\(String(other.rawValue, radix: 16))"
        }
        return ["isa": CPUISA.current.rawValue, "winograd": Winograd.isSupported ? "avx2+fma" : "unsupported",
                "onednn": oneDNN, "openblas": openBLASCore]
    }

    /// OpenBLAS's kernel family for this process (OPENBLAS_CORETYPE, or its own detection).
    public static var openBLASCore: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// The vector width (bits) of OpenBLAS's sgemm kernels for this process: 512 for its AVX-512
    /// families, 256 for its AVX2 ones, 128 otherwise (an older or unrecognised CPU).
    public static let openBLASVectorWidth: Int = {
        switch openBLASCore.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return 512
        case "haswell", "zen", "excavator": return 256
        default: return 128
        }
    }()

    /// One line: "isa avx2 (our Winograd avx2+fma, oneDNN avx2, OpenBLAS Haswell)".
    public static var line: String {
        let s = summary
        return "isa \(s["isa"]!) (our Winograd \(s["winograd"]!), oneDNN \(s["onednn"]!), OpenBLAS \(s["openblas"]!))"
    }
}
