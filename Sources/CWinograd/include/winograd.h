// Winograd F(m×m, 3×3) transforms for 3×3, stride-1, padding-1 convolutions (m = 2, 4 or 6;
// α = m + 2 the transformed tile's side). Only the transforms live here; the α² batched GEMMs in
// the transformed domain run on OpenBLAS, driven from Swift (Kernels/WinogradConvolution.swift).
//
// Tiles: the output plane P×Q (= H×W) is cut into TH×TW tiles of m×m (TH = ⌈H/m⌉, TW = ⌈W/m⌉);
// tile t of the batch is image t / (TH·TW), tile row (t mod TH·TW) / TW, tile column t mod TW.
// Transformed tensors are [α²][channels][ld]: ξ = the transformed-tile element, column t − t_base
// of a block of tiles starting at t_base, ld a multiple of 8 ≥ the block's tile count, and the
// α² planes `xs` floats apart (xs ≥ channels·ld; a stride that is not a multiple of 4 KiB keeps
// the α² vectors a tile writes out of one cache set).
#ifndef ATTRGUARD_WINOGRAD_H
#define ATTRGUARD_WINOGRAD_H

#ifdef __cplusplus
extern "C" {
#endif

/// One convolution's shape: input [batch, channels, height, width], weight [out_channels, channels, 3, 3].
typedef struct {
    int batch, channels, out_channels, height, width;
    int m;  // output tile side: 2, 4 or 6
} wg_shape;

/// 1 when this CPU runs the kernels (AVX2 and FMA), else 0.
int wg_cpu_supported(void);

/// U[α²][O·C] (planes xs apart) = G w[o,c] Gᵀ, for w [O][C][3][3]. With `flip` the transposed, 180°-rotated kernel
/// w'[c,o] = w[o,c] rotated (the input gradient's kernel): U[α²][C·O].
void wg_weight_transform(int m, const float *w, int out_channels, int channels, int flip, long xs, float *u);

/// V[α²][C][ld] for tiles [t0, t1) of `x` [B][C][H][W] (t0 − t_base a multiple of 8): Bᵀ d B of
/// each zero-padded (m+2)² input patch. Columns past t1 up to the next multiple of 8 are zero.
void wg_input_transform(const wg_shape *s, const float *x, long t_base, long t0, long t1, long ld, long xs, float *v);

/// y[B][O][H][W] for tiles [t0, t1) from M[α²][O][ld]: Aᵀ M A of each tile, clipped to the plane.
void wg_output_transform(const wg_shape *s, const float *mt, long t_base, long t0, long t1, long ld, long xs, float *y);

/// M'[α²][O][ld] for tiles [t0, t1) of `dy` [B][O][H][W]: A dY Aᵀ of each m×m output-gradient tile
/// (zero past the plane); columns past t1 up to the next multiple of 8 are zero.
void wg_output_grad_transform(const wg_shape *s, const float *dy, long t_base, long t0, long t1, long ld, long xs,
                              float *mt);

/// dw[O][C][3][3] = Gᵀ dU[o,c] G from dU[α²][O·C] (planes xs apart) (the weight gradient's inverse transform).
void wg_weight_grad_transform(int m, const float *du, int out_channels, int channels, long xs, float *dw);

#ifdef __cplusplus
}
#endif
#endif
