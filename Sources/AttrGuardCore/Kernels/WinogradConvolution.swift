import COpenBLAS
import CWinograd

/// Our own Winograd F(m×m, 3×3) convolution for 3×3, stride-1, padding-1 layers (Float32): the
/// forward map, the input gradient (the forward map with the transposed, 180°-rotated kernel)
/// and the weight gradient (the adjoint of the forward map in its kernel). They are the same three
/// maps as the im2col kernels (Convolution.swift), so the autograd rules and every order of
/// derivative are unchanged; only the arithmetic differs (relative error 1e-7–1e-5, by m).
///
/// Per block of tiles (a fixed size per shape, whatever the thread count, so results do not depend
/// on threads):
///   forward      V[α²][C][T] = Bᵀ x B,   M_ξ[O][T] = U_ξ[O][C] · V_ξ[C][T],   y = Aᵀ M A
///   weightGrad   V as above, M′[α²][O][T] = A dy Aᵀ,  dU_ξ[O][C] += M′_ξ[O][T] · V_ξ[C][T]ᵀ,  dw = Gᵀ dU G
/// with U = G w Gᵀ (C: Sources/CWinograd). The transforms run in the C target on AVX2 + FMA (eight
/// tiles to a vector), the α² GEMMs on OpenBLAS. Threads (KernelThreads.count) split the
/// transforms of a block by tiles and leave the GEMMs to OpenBLAS's own threads.
public enum Winograd {
    /// Output tile sides with kernels: F(2×2,3×3), F(4×4,3×3), F(6×6,3×3).
    public static let tileSizes = [2, 4, 6]

    /// Whether this CPU runs the kernels (AVX2 and FMA).
    public static let isSupported: Bool = wg_cpu_supported() != 0

    /// Whether a convolution of this geometry is one the kernels compute.
    public static func applies(to g: ConvGeometry) -> Bool {
        g.kernel == 3 && g.stride == 1 && g.padding == 1
    }

    /// Tiles per block: the block's transformed input and output (α²·(C+O)·T floats) in about
    /// 2 MiB, at least 64 tiles (so each GEMM has some width), whole vectors of 8.
    static func blockTiles(_ s: wg_shape) -> Int {
        let alpha = Int(s.m) + 2, perTile = alpha * alpha * Int(s.channels + s.out_channels) * 4
        let tiles = Int(s.batch) * tileCount(Int(s.height), Int(s.m)) * tileCount(Int(s.width), Int(s.m))
        let fit = max(64, (2 << 20) / perTile)
        return min((tiles + 7) / 8 * 8, (fit + 7) / 8 * 8)
    }

    static func tileCount(_ n: Int, _ m: Int) -> Int { (n + m - 1) / m }

    /// The distance between the α² planes of a transformed tensor of `count` floats a plane: a
    /// whole number of 64-byte lines, never a multiple of 4 KiB (the α² vectors a tile reads or
    /// writes would all fall into one cache set).
    static func planeStride(_ count: Int) -> Int {
        let lines = (count + 15) / 16 * 16
        return lines % 1024 == 0 ? lines + 16 : lines
    }

    static func shape(batch: Int, channels: Int, outChannels: Int, height: Int, width: Int, m: Int) -> wg_shape {
        require(tileSizes.contains(m), "Winograd: tile size \(m) is not one of \(tileSizes)")
        require(isSupported, "Winograd: this CPU lacks AVX2 or FMA")
        return wg_shape(batch: Int32(batch), channels: Int32(channels), out_channels: Int32(outChannels),
                        height: Int32(height), width: Int32(width), m: Int32(m))
    }

    /// Calls `body(t0, t1)` on pieces of the block's tiles [tb, te), in whole vectors of 8 tiles.
    private static func tilePieces(_ tb: Int, _ te: Int, _ body: (Int, Int) -> Void) {
        let groups = (te - tb + 7) / 8
        forEachPiece(groups, grain: 4) { r in body(tb + r.lowerBound * 8, min(te, tb + r.upperBound * 8)) }
    }

    /// One block of tiles [tb, te): its buffers' leading dimension and plane strides.
    private struct Block {
        let tb, te, ld, vs, ms: Int
    }

    /// Runs `body` on each block of a convolution's tiles in order, with V [α²][C][ld] and
    /// M [α²][O][ld] buffers (`v`, `mt`) sized for the largest block.
    private static func forEachBlock(_ sp: UnsafePointer<wg_shape>,
                                     _ body: (Block, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        let s = sp.pointee, m = Int(s.m), alpha2 = (m + 2) * (m + 2), C = Int(s.channels), O = Int(s.out_channels)
        let tiles = Int(s.batch) * tileCount(Int(s.height), m) * tileCount(Int(s.width), m)
        let size = blockTiles(s)
        let v = UnsafeMutablePointer<Float>.allocate(capacity: alpha2 * planeStride(C * size))
        let mt = UnsafeMutablePointer<Float>.allocate(capacity: alpha2 * planeStride(O * size))
        defer { v.deallocate(); mt.deallocate() }
        for tb in stride(from: 0, to: tiles, by: size) {
            let te = min(tiles, tb + size), ld = (te - tb + 7) / 8 * 8
            body(Block(tb: tb, te: te, ld: ld, vs: planeStride(C * ld), ms: planeStride(O * ld)), v, mt)
        }
    }

    /// y[B,O,H,W] = conv(x[B,C,H,W], w) given U = G w Gᵀ [α²][O][C] (`weightTransform`).
    static func forward(_ s: wg_shape, x: UnsafePointer<Float>, u: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let alpha2 = (Int(s.m) + 2) * (Int(s.m) + 2), C = Int(s.channels), O = Int(s.out_channels), us = planeStride(O * C)
        withUnsafePointer(to: s) { sp in
            forEachBlock(sp) { b, v, mt in
                tilePieces(b.tb, b.te) { t0, t1 in wg_input_transform(sp, x, b.tb, t0, t1, b.ld, b.vs, v) }
                for xi in 0..<alpha2 {
                    // M_ξ[O][T] = U_ξ[O][C] · V_ξ[C][T]
                    Float.gemm(transA: false, transB: false, m: O, n: b.ld, k: C, alpha: 1, a: u + xi * us, lda: C,
                               b: v + xi * b.vs, ldb: b.ld, beta: 0, c: mt + xi * b.ms, ldc: b.ld)
                }
                tilePieces(b.tb, b.te) { t0, t1 in wg_output_transform(sp, mt, b.tb, t0, t1, b.ld, b.ms, y) }
            }
        }
    }

    /// U[α²][O][C] = G w Gᵀ of w [O,C,3,3]; with `flip`, of the input gradient's kernel: [α²][C][O].
    static func weightTransform(_ w: UnsafePointer<Float>, outChannels: Int, channels: Int, m: Int, flip: Bool)
        -> UnsafeMutablePointer<Float> {
        let us = planeStride(outChannels * channels)
        let u = UnsafeMutablePointer<Float>.allocate(capacity: (m + 2) * (m + 2) * us)
        wg_weight_transform(Int32(m), w, Int32(outChannels), Int32(channels), flip ? 1 : 0, us, u)
        return u
    }

    /// y[B,O,H,W] = conv(x[B,C,H,W], w[O,C,3,3]), padding 1.
    public static func conv2d(x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                              batch: Int, channels: Int, outChannels: Int, height: Int, width: Int, m: Int) {
        forward(x, w, y, batch: batch, channels: channels, outChannels: outChannels, height: height, width: width, m: m, flip: false)
    }

    /// dx[B,C,H,W] = convᵀ(dy[B,O,H,W], w[O,C,3,3]): the forward map of dy with the kernel
    /// w′[c,o] = w[o,c] rotated by 180°.
    public static func inputGrad(dy: UnsafePointer<Float>, w: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                                 batch: Int, channels: Int, outChannels: Int, height: Int, width: Int, m: Int) {
        forward(dy, w, dx, batch: batch, channels: channels, outChannels: outChannels, height: height, width: width, m: m, flip: true)
    }

    /// The forward map of `source` with w [O,C,3,3] (`flip`: with w′, from O channels to C).
    private static func forward(_ source: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ result: UnsafeMutablePointer<Float>,
                                batch: Int, channels: Int, outChannels: Int, height: Int, width: Int, m: Int, flip: Bool) {
        let (from, to) = flip ? (outChannels, channels) : (channels, outChannels)
        let s = shape(batch: batch, channels: from, outChannels: to, height: height, width: width, m: m)
        let u = weightTransform(w, outChannels: outChannels, channels: channels, m: m, flip: flip)
        defer { u.deallocate() }
        forward(s, x: source, u: u, y: result)
    }

    /// dw[O,C,3,3] = Σ_b dy[b] ⋆ x[b] (overwritten).
    public static func weightGrad(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>,
                                  batch: Int, channels: Int, outChannels: Int, height: Int, width: Int, m: Int) {
        let s = shape(batch: batch, channels: channels, outChannels: outChannels, height: height, width: width, m: m)
        let alpha2 = (m + 2) * (m + 2), C = channels, O = outChannels, us = planeStride(O * C)
        let du = UnsafeMutablePointer<Float>.allocate(capacity: alpha2 * us)
        defer { du.deallocate() }
        withUnsafePointer(to: s) { sp in
            forEachBlock(sp) { b, v, mt in
                tilePieces(b.tb, b.te) { t0, t1 in
                    wg_input_transform(sp, x, b.tb, t0, t1, b.ld, b.vs, v)
                    wg_output_grad_transform(sp, dy, b.tb, t0, t1, b.ld, b.ms, mt)
                }
                for xi in 0..<alpha2 {
                    // dU_ξ[O][C] (+)= M′_ξ[O][T] · V_ξ[C][T]ᵀ
                    Float.gemm(transA: false, transB: true, m: O, n: C, k: b.ld, alpha: 1, a: mt + xi * b.ms, lda: b.ld,
                               b: v + xi * b.vs, ldb: b.ld, beta: b.tb == 0 ? 0 : 1, c: du + xi * us, ldc: C)
                }
            }
        }
        wg_weight_grad_transform(Int32(m), du, Int32(O), Int32(C), us, dw)
    }
}
