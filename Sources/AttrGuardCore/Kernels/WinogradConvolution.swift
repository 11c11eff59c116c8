import COpenBLAS
import CWinograd

/// Our own Winograd F(m×m, 3×3) convolution for 3×3, padding-1 layers (Float32). Stride 1: the
/// forward map, the input gradient (the forward map with the transposed, 180°-rotated kernel)
/// and the weight gradient (the adjoint of the forward map in its kernel). Stride 2: the same
/// three on the polyphase algorithm (F(4, 2) on the input's odd samples, the identity on its even
/// ones: α = 9 points a side, 81 multiplications per 4×4 output tile where direct convolution has
/// 144); its input gradient is the transposed algorithm (5×5 patches of dy to 8×8 tiles of dx).
/// They are the same maps as the im2col kernels (Convolution.swift), so the autograd rules and
/// every order of derivative are unchanged; only the arithmetic differs (relative error 1e-7–1e-5, by m).
///
/// Per block of tiles (a fixed size per shape, whatever the thread count, so results do not depend
/// on threads):
///   forward      V[α²][C][T] = Bᵀ x B,   M_ξ[O][T] = U_ξ[O][C] · V_ξ[C][T],   y = Aᵀ M A
///   weightGrad   V as above, M′[α²][O][T] = A dy Aᵀ,  dU_ξ[O][C] += M′_ξ[O][T] · V_ξ[C][T]ᵀ,  dw = Gᵀ dU G
/// with U = G w Gᵀ (C: Sources/CWinograd). The transforms run in the C target on AVX2 + FMA (eight
/// tiles to a vector), the α² GEMMs on OpenBLAS. Threads (KernelThreads.count) split the
/// transforms of a block by tiles and leave the GEMMs to OpenBLAS's own threads.
public enum Winograd {
    /// Output tile sides with kernels per stride: F(2×2,3×3), F(4×4,3×3), F(6×6,3×3) at stride 1,
    /// F(2×2,3×3) and F(4×4,3×3) at stride 2.
    public static func tileSizes(stride: Int) -> [Int] { stride == 1 ? [2, 4, 6] : stride == 2 ? [2, 4] : [] }

    /// Whether this CPU runs the kernels (AVX2 and FMA).
    public static let isSupported: Bool = wg_cpu_supported() != 0

    /// Whether a convolution of this geometry is one the kernels compute.
    public static func applies(to g: ConvGeometry) -> Bool {
        g.kernel == 3 && g.padding == 1 && (g.stride == 1 || g.stride == 2)
    }

    /// Points a side of the transformed tile: m + 2 at stride 1, 2m + 1 at stride 2.
    static func alpha(_ s: wg_shape) -> Int { s.stride == 1 ? Int(s.m) + 2 : 2 * Int(s.m) + 1 }

    /// Tiles of the batch: the output plane's, m×m each.
    static func tiles(_ s: wg_shape) -> Int {
        let p = (Int(s.height) - 1) / Int(s.stride) + 1, q = (Int(s.width) - 1) / Int(s.stride) + 1
        return Int(s.batch) * tileCount(p, Int(s.m)) * tileCount(q, Int(s.m))
    }

    /// Tiles per block: the block's transformed input and output (α²·(C+O)·T floats) in about
    /// 2 MiB, at least 64 tiles (so each GEMM has some width), whole vectors of 8. At stride 2
    /// (a group's slots widen its GEMM) about 1 MiB, and at least 32 tiles of F(4×4) (α² = 81) or
    /// 128 of F(2×2) (α² = 25): measured fastest of 16–256 tiles and 1–8 MiB on ResNet-18's
    /// strided layers (`bench conv --path winograd`, AVX2): 128→256 at 16² 105 → 115–129 GFLOP/s
    /// against 64 tiles, 256→512 at 8² (F(2×2), 128 tiles: one block) 78–91 → 94–104 against 32.
    static func blockTiles(_ s: wg_shape) -> Int {
        let alpha = alpha(s), perTile = alpha * alpha * Int(s.channels + s.out_channels) * 4
        let (least, budget) = s.stride == 1 ? (64, 2 << 20) : (s.m == 4 ? 32 : 128, 1 << 20)
        let fit = max(least, budget / perTile)
        return min((tiles(s) + 7) / 8 * 8, (fit + 7) / 8 * 8)
    }

    static func tileCount(_ n: Int, _ m: Int) -> Int { (n + m - 1) / m }

    /// The distance between the α² planes of a transformed tensor of `count` floats a plane: a
    /// whole number of 64-byte lines, never a multiple of 4 KiB (the α² vectors a tile reads or
    /// writes would all fall into one cache set).
    static func planeStride(_ count: Int) -> Int {
        let lines = (count + 15) / 16 * 16
        return lines % 1024 == 0 ? lines + 16 : lines
    }

    static func shape(batch: Int, channels: Int, outChannels: Int, height: Int, width: Int, m: Int, stride: Int,
                      transposed: Bool = false) -> wg_shape {
        require(tileSizes(stride: stride).contains(m),
                "Winograd: tile size \(m) at stride \(stride) is not one of \(tileSizes(stride: stride))")
        require(isSupported, "Winograd: this CPU lacks AVX2 or FMA")
        return wg_shape(batch: Int32(batch), channels: Int32(channels), out_channels: Int32(outChannels),
                        height: Int32(height), width: Int32(width), m: Int32(m), stride: Int32(stride),
                        transposed: transposed ? 1 : 0)
    }

    /// Calls `body(t0, t1)` on pieces of the block's tiles [tb, te), in whole vectors of 8 tiles.
    private static func tilePieces(_ tb: Int, _ te: Int, _ body: (Int, Int) -> Void) {
        let groups = (te - tb + 7) / 8
        forEachPiece(groups, grain: 4) { r in body(tb + r.lowerBound * 8, min(te, tb + r.upperBound * 8)) }
    }

    /// One block of tiles [tb, te) (ld: their count rounded up to whole vectors of 8) and where its
    /// transformed tensors keep element (slot, channel, tile − tb): slot·vp + channel·vr + … in V,
    /// slot·mp + channel·mr + … in M. Stride 1: [α²][channels][ld] (planes a `planeStride` apart);
    /// stride 2: [channels][α²][ld], so that a group's slots are one GEMM operand (winograd.h).
    private struct Block {
        let tb, te, ld, vp, vr, mp, mr: Int
    }

    /// The groups of slots that share one plane of U (wg_groups): first slot and point count.
    static func groups(_ s: wg_shape) -> [(slot: Int, count: Int)] {
        var spans = [Int32](repeating: 0, count: 2 * alpha(s) * alpha(s))
        let n = Int(wg_groups(s.m, s.stride, &spans))
        return (0..<n).map { (Int(spans[2 * $0]), Int(spans[2 * $0 + 1])) }
    }

    /// Runs `body` on each block of a convolution's tiles in order, with V and M buffers (`v`, `mt`)
    /// sized for the largest block.
    private static func forEachBlock(_ sp: UnsafePointer<wg_shape>,
                                     _ body: (Block, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        let s = sp.pointee, alpha2 = alpha(s) * alpha(s), C = Int(s.channels), O = Int(s.out_channels)
        let tiles = tiles(s), size = blockTiles(s), strided = s.stride != 1
        let v = UnsafeMutablePointer<Float>.allocate(capacity: strided ? alpha2 * C * size : alpha2 * planeStride(C * size))
        let mt = UnsafeMutablePointer<Float>.allocate(capacity: strided ? alpha2 * O * size : alpha2 * planeStride(O * size))
        defer { v.deallocate(); mt.deallocate() }
        for tb in stride(from: 0, to: tiles, by: size) {
            let te = min(tiles, tb + size), ld = (te - tb + 7) / 8 * 8
            let block = strided
                ? Block(tb: tb, te: te, ld: ld, vp: ld, vr: alpha2 * ld, mp: ld, mr: alpha2 * ld)
                : Block(tb: tb, te: te, ld: ld, vp: planeStride(C * ld), vr: ld, mp: planeStride(O * ld), mr: ld)
            body(block, v, mt)
        }
    }

    /// y[B,O,P,Q] = conv(x[B,C,H,W], w) given U = G w Gᵀ [groups][O][C] (`weightTransform`).
    static func forward(_ s: wg_shape, x: UnsafePointer<Float>, u: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let C = Int(s.channels), O = Int(s.out_channels), us = planeStride(O * C), groups = groups(s)
        withUnsafePointer(to: s) { sp in
            forEachBlock(sp) { b, v, mt in
                tilePieces(b.tb, b.te) { t0, t1 in wg_input_transform(sp, x, b.tb, t0, t1, b.vr, b.vp, v) }
                for (g, span) in groups.enumerated() {
                    // M_ξ[O][T] = U_g[O][C] · V_ξ[C][T] for the group's slots ξ side by side.
                    Float.gemm(transA: false, transB: false, m: O, n: span.count * b.ld, k: C, alpha: 1, a: u + g * us, lda: C,
                               b: v + span.slot * b.vp, ldb: b.vr, beta: 0, c: mt + span.slot * b.mp, ldc: b.mr)
                }
                tilePieces(b.tb, b.te) { t0, t1 in wg_output_transform(sp, mt, b.tb, t0, t1, b.mr, b.mp, y) }
            }
        }
    }

    /// U[groups][O][C] = G w Gᵀ of w [O,C,3,3]; with `flip`, of the input gradient's kernel: [α²][C][O].
    static func weightTransform(_ w: UnsafePointer<Float>, _ s: wg_shape, flip: Bool) -> UnsafeMutablePointer<Float> {
        let us = planeStride(Int(s.out_channels * s.channels))
        let u = UnsafeMutablePointer<Float>.allocate(capacity: groups(s).count * us)
        // The input gradient's shape maps O channels to C: w's own [O][C] is the other way round.
        let (o, c) = flip ? (s.channels, s.out_channels) : (s.out_channels, s.channels)
        wg_weight_transform(s.m, s.stride, w, o, c, flip ? 1 : 0, us, u)
        return u
    }

    /// y[B,O,P,Q] = conv(x[B,C,H,W], w[O,C,3,3]), padding 1, stride 1 or 2 (P = (H − 1)/stride + 1).
    public static func conv2d(x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                              batch: Int, channels: Int, outChannels: Int, height: Int, width: Int, m: Int, stride: Int = 1) {
        forward(x, w, y, batch: batch, channels: channels, outChannels: outChannels, height: height, width: width, m: m,
                stride: stride, flip: false)
    }

    /// dx[B,C,H,W] = convᵀ(dy[B,O,P,Q], w[O,C,3,3]): with the kernel w′[c,o] = w[o,c] rotated by
    /// 180°, at stride 1 the forward map of dy, at stride 2 the transposed algorithm.
    public static func inputGrad(dy: UnsafePointer<Float>, w: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                                 batch: Int, channels: Int, outChannels: Int, height: Int, width: Int, m: Int,
                                 stride: Int = 1) {
        forward(dy, w, dx, batch: batch, channels: channels, outChannels: outChannels, height: height, width: width, m: m,
                stride: stride, flip: true)
    }

    /// The forward map of `source` with w [O,C,3,3] (`flip`: with w′, from O channels to C).
    private static func forward(_ source: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ result: UnsafeMutablePointer<Float>,
                                batch: Int, channels: Int, outChannels: Int, height: Int, width: Int, m: Int, stride: Int,
                                flip: Bool) {
        let (from, to) = flip ? (outChannels, channels) : (channels, outChannels)
        let s = shape(batch: batch, channels: from, outChannels: to, height: height, width: width, m: m, stride: stride,
                      transposed: flip && stride != 1)
        let u = weightTransform(w, s, flip: flip)
        defer { u.deallocate() }
        forward(s, x: source, u: u, y: result)
    }

    /// dw[O,C,3,3] = Σ_b dy[b] ⋆ x[b] (overwritten), stride 1 or 2.
    public static func weightGrad(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>,
                                  batch: Int, channels: Int, outChannels: Int, height: Int, width: Int, m: Int,
                                  stride: Int = 1) {
        let s = shape(batch: batch, channels: channels, outChannels: outChannels, height: height, width: width, m: m,
                      stride: stride)
        let C = channels, O = outChannels, us = planeStride(O * C), groups = groups(s)
        let du = UnsafeMutablePointer<Float>.allocate(capacity: groups.count * us)
        defer { du.deallocate() }
        withUnsafePointer(to: s) { sp in
            forEachBlock(sp) { b, v, mt in
                tilePieces(b.tb, b.te) { t0, t1 in
                    wg_input_transform(sp, x, b.tb, t0, t1, b.vr, b.vp, v)
                    wg_output_grad_transform(sp, dy, b.tb, t0, t1, b.mr, b.mp, mt)
                }
                for (g, span) in groups.enumerated() {
                    // dU_g[O][C] (+)= Σ_ξ∈g M′_ξ[O][T] · V_ξ[C][T]ᵀ: the group's slots side by side.
                    Float.gemm(transA: false, transB: true, m: O, n: C, k: span.count * b.ld, alpha: 1,
                               a: mt + span.slot * b.mp, lda: b.mr, b: v + span.slot * b.vp, ldb: b.vr,
                               beta: b.tb == 0 ? 0 : 1, c: du + g * us, ldc: C)
                }
            }
        }
        wg_weight_grad_transform(s.m, s.stride, du, Int32(O), Int32(C), us, dw)
    }
}
