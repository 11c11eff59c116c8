import CDNNL
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
    /// Our Winograd F(m×m, 3×3) (WinogradConvolution.swift).
    case winograd(tile: Int)
    /// oneDNN on `path` (.onednn: its faster of direct and its own Winograd; .direct).
    case oneDNN(ConvolutionPath)
    /// im2col + BLAS: the reference, and Float64.
    case im2col

    public var description: String {
        switch self {
        case .winograd(let m): return "winograd_\(m)x3:avx2"
        case .oneDNN(let p): return "onednn(\(p.rawValue))"
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
        case .direct, .onednn: return .oneDNN(path)
        case .winograd:
            guard Winograd.isSupported, Winograd.applies(to: g) else { return .oneDNN(.direct) }
            return .winograd(tile: Self.forcedTile ?? Self.tile(g))
        case .fastest:
            guard Winograd.isSupported, Winograd.applies(to: g), let m = fastestTile(g, outChannels: outChannels) else {
                return .oneDNN(.onednn)
            }
            return .winograd(tile: m)
        }
    }

    /// ATTRGUARD_WINOGRAD_TILE=2|4|6 forces the tile size of our kernels (for measuring).
    static let forcedTile: Int? = ProcessInfo.processInfo.environment["ATTRGUARD_WINOGRAD_TILE"].flatMap(Int.init)
        .map { m in
            require(Winograd.tileSizes.contains(m), "ATTRGUARD_WINOGRAD_TILE=\(m): expected 2, 4 or 6")
            return m
        }

    /// The tile size for a plane: F(4×4) from 8×8 maps up (a quarter of direct convolution's
    /// multiplications), F(2×2) on smaller ones (a 4×4 map is one 6×6 tile of F(4×4), whose
    /// transformed domain is 4× the kernel's; F(2×2) has four tiles a map and measures faster).
    static func tile(_ g: ConvGeometry) -> Int {
        min(g.height, g.width) >= 8 ? 4 : 2
    }

    /// Our Winograd's tile where it is the fastest implementation measured on this ISA, or nil
    /// where oneDNN is (`attrguard bench conv`: see README, performance).
    func fastestTile(_ g: ConvGeometry, outChannels: Int) -> Int? {
        if let m = Self.forcedTile { return m }
        // Image layers (3 channels): the transforms cost as much as the few multiplications saved.
        guard g.channels >= 16 && outChannels >= 16 else { return nil }
        switch CPUISA.current {
        case .avx2: return Self.tile(g)
        case .avx512:
            // oneDNN's AVX-512 Winograd runs the forward and input gradient faster from 8×8 maps.
            return nil
        }
    }
}
