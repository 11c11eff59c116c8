/// The three convolution kernels as one large GEMM per group of images: the im2col columns of
/// several images side by side, so each GEMM has B·P·Q columns instead of the reference's P·Q.
/// Same maps as the per-image im2col kernels (Convolution.swift); it pays where a layer's output
/// plane is small and its channels many — the stride-2 3×3 layers, whose oneDNN direct kernels
/// (the only ones oneDNN 2.6 has there on AVX2) reach 70–85 GFLOP/s while OpenBLAS's sgemm at
/// these sizes reaches 85–97 (`attrguard bench conv --path gemm`; README, performance).
///
/// Layouts, for a group of n images b0..<b0+n (G = n·P·Q):
///   cols  [C·k·k, G]   column i·PQ + j is output position j of image b0+i
///   rows  [O, G]       y or dy of the group, images side by side
///   forward     rows  = w[O, Ckk] · cols            then rows scattered to y[b, O, PQ]
///   inputGrad   cols  = w[O, Ckk]ᵀ · rows(dy)       then col2im per image
///   weightGrad  dw   += rows(dy) · colsᵀ            (beta 0 on the first group)
enum ConvolutionGEMM {
    /// Images per group: as many as keep the columns within 256 Ki elements (1 MiB in Float32, about
    /// one core's L2, so the GEMM reads them back from cache), at least one, and at least enough for
    /// `minColumns` columns. Measured on the stride-2 ResNet-18 layers (AVX2, one thread): 128 Ki–
    /// 512 Ki within noise of each other, 4 Mi 10–25 % slower, 64 Ki slower on the 4×4 output planes
    /// (too few columns per GEMM).
    static func groupSize(_ g: ConvGeometry, batch: Int, minColumns: Int = 0) -> Int {
        let byBudget = (256 << 10) / max(1, g.patch * g.outPlane), byColumns = (minColumns + g.outPlane - 1) / g.outPlane
        return max(1, min(batch, max(byBudget, byColumns)))
    }

    /// The input gradient's GEMM (wᵀ · rows: Ckk × G, inner dimension O) reaches OpenBLAS's rate
    /// only from about 448 columns (2304 × G × 512 in a C test on AVX2: 69 GFLOP/s at G = 112, 105
    /// at 448), so its groups take at least this many, past the cache budget: the 256→512 stride-2
    /// layer's input gradient measured 84–85 → 89–91 GFLOP/s; forward and weight gradient did not
    /// gain (the weight gradient lost 5–10 %), so they keep the budget alone.
    static let inputGradientColumns = 512

    /// y[B,O,P,Q] = conv(x[B,C,H,W], w[O,C,k,k]).
    static func forward<T: Scalar>(x: UnsafePointer<T>, w: UnsafePointer<T>, y: UnsafeMutablePointer<T>,
                                   _ g: ConvGeometry, batch: Int, outChannels O: Int) {
        let PQ = g.outPlane
        forEachGroup(g, batch: batch, outChannels: O) { b0, n, cols, rows in
            let G = n * PQ
            columns(x, b0, n, g, into: cols)
            T.gemm(transA: false, transB: false, m: O, n: G, k: g.patch, alpha: 1, a: w, lda: g.patch,
                   b: cols, ldb: G, beta: 0, c: rows, ldc: G)
            scatter(rows, b0, n, O, PQ, into: y)
        }
    }

    /// dx[B,C,H,W] = convᵀ(dy[B,O,P,Q], w[O,C,k,k]).
    static func inputGrad<T: Scalar>(dy: UnsafePointer<T>, w: UnsafePointer<T>, dx: UnsafeMutablePointer<T>,
                                     _ g: ConvGeometry, batch: Int, outChannels O: Int) {
        let PQ = g.outPlane, imageSize = g.channels * g.height * g.width
        dx.update(repeating: 0, count: batch * imageSize)
        forEachGroup(g, batch: batch, outChannels: O, minColumns: inputGradientColumns) { b0, n, cols, rows in
            let G = n * PQ
            gather(dy, b0, n, O, PQ, into: rows)
            T.gemm(transA: true, transB: false, m: g.patch, n: G, k: O, alpha: 1, a: w, lda: g.patch,
                   b: rows, ldb: G, beta: 0, c: cols, ldc: G)
            for i in 0..<n { col2im(cols + i * PQ, g, dx + (b0 + i) * imageSize, rowStride: G) }
        }
    }

    /// dw[O,C,k,k] = Σ_b dy[b][O,PQ] · im2col(x[b])ᵀ.
    static func weightGrad<T: Scalar>(x: UnsafePointer<T>, dy: UnsafePointer<T>, dw: UnsafeMutablePointer<T>,
                                      _ g: ConvGeometry, batch: Int, outChannels O: Int) {
        let PQ = g.outPlane
        forEachGroup(g, batch: batch, outChannels: O) { b0, n, cols, rows in
            let G = n * PQ
            columns(x, b0, n, g, into: cols)
            gather(dy, b0, n, O, PQ, into: rows)
            T.gemm(transA: false, transB: true, m: O, n: g.patch, k: G, alpha: 1, a: rows, lda: G,
                   b: cols, ldb: G, beta: b0 == 0 ? 0 : 1, c: dw, ldc: g.patch)
        }
    }

    /// Calls `body(b0, n, cols, rows)` for each group of images, with the group's buffers.
    private static func forEachGroup<T: Scalar>(_ g: ConvGeometry, batch: Int, outChannels O: Int, minColumns: Int = 0,
                                                _ body: (Int, Int, UnsafeMutablePointer<T>, UnsafeMutablePointer<T>) -> Void) {
        let group = groupSize(g, batch: batch, minColumns: minColumns), G = group * g.outPlane
        let cols = UnsafeMutablePointer<T>.allocate(capacity: g.patch * G), rows = UnsafeMutablePointer<T>.allocate(capacity: O * G)
        defer { cols.deallocate(); rows.deallocate() }
        for b0 in stride(from: 0, to: batch, by: group) { body(b0, min(group, batch - b0), cols, rows) }
    }

    /// cols[Ckk, n·PQ] ← im2col of images b0..<b0+n of x [B,C,H,W], side by side.
    private static func columns<T: Scalar>(_ x: UnsafePointer<T>, _ b0: Int, _ n: Int, _ g: ConvGeometry,
                                           into cols: UnsafeMutablePointer<T>) {
        let PQ = g.outPlane, imageSize = g.channels * g.height * g.width
        for i in 0..<n { im2col(x + (b0 + i) * imageSize, g, cols + i * PQ, rowStride: n * PQ) }
    }

    /// y[b0..<b0+n, O, PQ] ← rows[O, n·PQ]: `gather`'s inverse.
    private static func scatter<T: Scalar>(_ rows: UnsafePointer<T>, _ b0: Int, _ n: Int, _ O: Int, _ PQ: Int,
                                           into y: UnsafeMutablePointer<T>) {
        for i in 0..<n {
            for o in 0..<O { (y + ((b0 + i) * O + o) * PQ).update(from: rows + o * n * PQ + i * PQ, count: PQ) }
        }
    }

    /// rows[O, n·PQ] ← dy[b0..<b0+n, O, PQ], images side by side.
    private static func gather<T: Scalar>(_ dy: UnsafePointer<T>, _ b0: Int, _ n: Int, _ O: Int, _ PQ: Int,
                                          into rows: UnsafeMutablePointer<T>) {
        for i in 0..<n {
            for o in 0..<O { (rows + o * n * PQ + i * PQ).update(from: dy + ((b0 + i) * O + o) * PQ, count: PQ) }
        }
    }
}
