// Winograd F(m×m, 3×3) transforms for 3×3, padding-1 convolutions: stride 1 (m = 2, 4 or 6; α = m + 2
// points a side) and stride 2 (m = 4; α = 2m + 1 = 9: the polyphase split of the input, F(4, 2) on
// its odd samples and the identity on its even ones, 81 multiplications per 16 outputs instead of
// 144; its input gradient is the transposed algorithm on the same points, `transposed` below).
// Only the transforms live here; the α² batched GEMMs in the transformed domain run on OpenBLAS,
// driven from Swift (Kernels/WinogradConvolution.swift).
//
// Tiles: the output plane P×Q (P = (H − 1)/stride + 1, Q likewise) is cut into TH×TW tiles of m×m
// (TH = ⌈P/m⌉, TW = ⌈Q/m⌉); tile t of the batch is image t / (TH·TW), tile row (t mod TH·TW) / TW,
// tile column t mod TW, and reads the input patch of α×α from row stride·m·(tile row) − 1.
// Transformed tensors: element (slot ξ, channel c, tile t) at ξ·xs + c·ld + (t − t_base), for a
// block of tiles starting at t_base. Stride 1 lays them out [α²][channels][T] (ld = T, a multiple
// of 8 ≥ the block's tile count; xs ≥ channels·T, not a multiple of 4 KiB, which keeps the α²
// vectors a tile writes out of one cache set); stride 2 [channels][α²][T] (xs = T, ld = α²·T), so
// that a group's slots (wg_groups) sit side by side in each channel's row, one GEMM operand.
#ifndef ATTRGUARD_WINOGRAD_H
#define ATTRGUARD_WINOGRAD_H

#ifdef __cplusplus
extern "C" {
#endif

/// One convolution's shape: input [batch, channels, height, width], weight [out_channels, channels, 3, 3].
typedef struct {
    int batch, channels, out_channels, height, width;
    int m;       // output tile side: 2, 4 or 6 (stride 1); 4 (stride 2)
    int stride;  // 1 or 2
    // 1: stride 2's input gradient dx = convᵀ(dy, w) — the input transform reads dy [batch][channels][P][Q]
    // (channels = the layer's out_channels), the output transform writes dx [batch][out_channels][H][W]
    // in 2m×2m tiles, and U is the flipped kernel's. height × width stay the layer's input plane.
    int transposed;
} wg_shape;

/// 1 when this CPU runs the kernels (AVX2 and FMA), else 0.
int wg_cpu_supported(void);

/// The transformed tile's groups of points that share one U (stride 1: each of the α² points alone;
/// stride 2: 36 groups), in slot order: returns their count and, where `spans` is not NULL, writes
/// each group's first slot and point count to spans[2g], spans[2g + 1]. The transformed input and
/// output hold point slots in this order; U and dU hold one plane per group.
int wg_groups(int m, int stride, int *spans);

/// U[groups][O·C] (planes xs apart) = G w[o,c] Gᵀ, for w [O][C][3][3]. With `flip` the transposed,
/// 180°-rotated kernel w'[c,o] = w[o,c] rotated (the input gradient's kernel): U[α²][C·O].
void wg_weight_transform(int m, int stride, const float *w, int out_channels, int channels, int flip, long xs, float *u);

/// V[α²][C][ld] for tiles [t0, t1) of `x` [B][C][H][W] (t0 − t_base a multiple of 8): Bᵀ d B of
/// each zero-padded (m+2)² input patch. Columns past t1 up to the next multiple of 8 are zero.
void wg_input_transform(const wg_shape *s, const float *x, long t_base, long t0, long t1, long ld, long xs, float *v);

/// y[B][O][P][Q] for tiles [t0, t1) from M[α²][O][ld]: Aᵀ M A of each tile, clipped to the plane.
void wg_output_transform(const wg_shape *s, const float *mt, long t_base, long t0, long t1, long ld, long xs, float *y);

/// M'[α²][O][ld] for tiles [t0, t1) of `dy` [B][O][P][Q]: A dY Aᵀ of each m×m output-gradient tile
/// (zero past the plane); columns past t1 up to the next multiple of 8 are zero.
void wg_output_grad_transform(const wg_shape *s, const float *dy, long t_base, long t0, long t1, long ld, long xs,
                              float *mt);

/// dw[O][C][3][3] = Gᵀ dU[o,c] G from dU[α²][O·C] (planes xs apart) (the weight gradient's inverse transform).
void wg_weight_grad_transform(int m, int stride, const float *du, int out_channels, int channels, long xs, float *dw);

#ifdef __cplusplus
}
#endif
#endif
