// Direct 3×3, stride-1, padding-1 convolution kernels for layers of few input channels (the image
// layer: 3 channels), AVX2 + FMA. There a GEMM has only C·9 = 27 rows of reduction and Winograd's
// transforms cost more than they save; a register-blocked direct loop keeps four output channels'
// sums for up to 24 columns in registers and streams the (zero-padded) input rows past them.
// Callers check wg_cpu_supported() (CWinograd) first: the same AVX2 + FMA.
#ifndef ATTRGUARD_IMAGE_CONV_H
#define ATTRGUARD_IMAGE_CONV_H

#ifdef __cplusplus
extern "C" {
#endif

/// y[b][O][H][W] = conv(x[b][C][H][W], w[O][C][3][3]) for the images b in [b0, b1).
void ic_forward(const float *x, const float *w, float *y, int channels, int out_channels, int height, int width,
                int b0, int b1);

/// dw[o][C][3][3] = Σ_b dy[b][o] ⋆ x[b] for the output channels o in [o0, o1) (overwritten), over
/// all `batch` images; dy [batch][out_channels][H][W].
void ic_weight_grad(const float *x, const float *dy, float *dw, int batch, int channels, int out_channels, int height,
                    int width, int o0, int o1);

#ifdef __cplusplus
}
#endif
#endif
