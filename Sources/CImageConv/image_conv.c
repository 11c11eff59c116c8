// Direct convolution for layers of few input channels (image_conv.h). Both kernels vectorise over
// the columns, eight to a vector, and block four output channels: per kernel tap, three loads of the
// padded input row and four broadcast weights feed twelve FMAs (forward), or three shifted input
// rows and four output-gradient rows feed twelve running sums (weight gradient). The tests compare
// both against the Float64 im2col reference.
#include "image_conv.h"

#include <stdlib.h>

#if !defined(__AVX2__) || !defined(__FMA__)
void ic_forward(const float *x, const float *w, float *y, int c, int o, int h, int wd, int b0, int b1) { abort(); }
void ic_weight_grad(const float *x, const float *dy, float *dw, int b, int c, int o, int h, int wd, int o0, int o1) { abort(); }
#else

#include <immintrin.h>
#include <string.h>

// Zero-padded copy of one image's channels: xp[c][H+2][wp], image at row 1, column 1.
static void pad_image(const float *x, int C, int H, int W, int wp, float *xp) {
    memset(xp, 0, (size_t)C * (H + 2) * wp * sizeof(float));
    for (int c = 0; c < C; c++)
        for (int h = 0; h < H; h++) memcpy(xp + ((long)c * (H + 2) + h + 1) * wp + 1, x + ((long)c * H + h) * W, (size_t)W * sizeof(float));
}

static inline __m256i tail_mask(int n) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane);
}

// Four output channels' row h, NV vectors of 8 columns from w0 (the last `tail` columns wide, 8 = whole).
#define FORWARD_BLOCK(NV)                                                                                        \
    static inline void forward_block_##NV(const float *xp, int C, int H, int wp, const float *wk, int O4, int h, \
                                          int w0, int tail, float *y, long plane, int W) {                       \
        __m256 acc[4][NV];                                                                                       \
        for (int ob = 0; ob < O4; ob++)                                                                         \
            for (int v = 0; v < NV; v++) acc[ob][v] = _mm256_setzero_ps();                                       \
        for (int c = 0; c < C; c++)                                                                              \
            for (int kh = 0; kh < 3; kh++) {                                                                     \
                const float *row = xp + ((long)c * (H + 2) + h + kh) * wp + w0;                                   \
                for (int kw = 0; kw < 3; kw++) {                                                                 \
                    __m256 xv[NV];                                                                               \
                    for (int v = 0; v < NV; v++) xv[v] = _mm256_loadu_ps(row + kw + 8 * v);                     \
                    const float *wt = wk + (c * 3 + kh) * 3 + kw;                                                \
                    for (int ob = 0; ob < 4; ob++) {                                                             \
                        const __m256 b = _mm256_broadcast_ss(wt + ob * C * 9);                                   \
                        for (int v = 0; v < NV; v++) acc[ob][v] = _mm256_fmadd_ps(b, xv[v], acc[ob][v]);        \
                    }                                                                                            \
                }                                                                                                \
            }                                                                                                    \
        for (int ob = 0; ob < O4; ob++)                                                                         \
            for (int v = 0; v < NV; v++) {                                                                       \
                float *dst = y + ob * plane + (long)h * W + w0 + 8 * v;                                          \
                if (v == NV - 1 && tail < 8) _mm256_maskstore_ps(dst, tail_mask(tail), acc[ob][v]);              \
                else _mm256_storeu_ps(dst, acc[ob][v]);                                                          \
            }                                                                                                    \
    }
FORWARD_BLOCK(1)
FORWARD_BLOCK(2)
FORWARD_BLOCK(3)

void ic_forward(const float *x, const float *w, float *y, int C, int O, int H, int W, int b0, int b1) {
    const int wp = ((W + 2 + 7) / 8) * 8 + 8;
    float *xp = malloc((size_t)C * (H + 2) * wp * sizeof(float));
    // Weights for blocks of 4 output channels, a partial last block padded with zero filters.
    const int OB = (O + 3) / 4;
    float *wk = calloc((size_t)OB * 4 * C * 9, sizeof(float));
    memcpy(wk, w, (size_t)O * C * 9 * sizeof(float));
    const long plane = (long)H * W;
    const int vectors = (W + 7) / 8, tail = W - 8 * (vectors - 1);
    for (int b = b0; b < b1; b++) {
        pad_image(x + (long)b * C * plane, C, H, W, wp, xp);
        for (int ob = 0; ob < OB; ob++) {
            const int o4 = O - 4 * ob < 4 ? O - 4 * ob : 4;
            float *yb = y + ((long)b * O + 4 * ob) * plane;
            const float *wb = wk + (long)ob * 4 * C * 9;
            for (int h = 0; h < H; h++) {
                // Blocks of 3 vectors, then 2 + 2 or 2 where 4 or 2 remain (a 1-vector block wastes its broadcasts).
                int v = 0;
                while (vectors - v > 0) {
                    const int left = vectors - v, nv = left == 4 || left == 2 ? 2 : left >= 3 ? 3 : 1;
                    const int t = v + nv == vectors ? tail : 8;
                    if (nv == 3) forward_block_3(xp, C, H, wp, wb, o4, h, 8 * v, t, yb, plane, W);
                    else if (nv == 2) forward_block_2(xp, C, H, wp, wb, o4, h, 8 * v, t, yb, plane, W);
                    else forward_block_1(xp, C, H, wp, wb, o4, h, 8 * v, t, yb, plane, W);
                    v += nv;
                }
            }
        }
    }
    free(wk);
    free(xp);
}

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

// dw[O][C][3][3] = Σ_b Σ_h,w dy[b][o][h][w] · x[b][c][h+kh−1][w+kw−1], per block of 4 output channels
// and kernel row (c, kh): twelve vector sums (4 channels × kw = 0..2) over the columns, kept across
// images in `acc` and summed across their lanes at the end.
void ic_weight_grad(const float *x, const float *dy, float *dw, int B, int C, int O, int H, int W, int o0, int o1) {
    const int wp = ((W + 2 + 7) / 8) * 8 + 8;
    float *xp = malloc((size_t)C * (H + 2) * wp * sizeof(float));
    const long plane = (long)H * W;
    const int vectors = (W + 7) / 8, tail = W - 8 * (vectors - 1);
    const int blocks = (o1 - o0 + 3) / 4;
    __m256 *acc = aligned_alloc(32, (size_t)blocks * C * 3 * 12 * sizeof(__m256));
    for (long i = 0; i < (long)blocks * C * 3 * 12; i++) acc[i] = _mm256_setzero_ps();
    for (int b = 0; b < B; b++) {
        pad_image(x + (long)b * C * plane, C, H, W, wp, xp);
        for (int ob = 0; ob < blocks; ob++) {
            const int o = o0 + 4 * ob, o4 = o1 - o < 4 ? o1 - o : 4;
            const float *g[4];
            for (int k = 0; k < 4; k++) g[k] = dy + ((long)b * O + o + (k < o4 ? k : 0)) * plane;
            for (int c = 0; c < C; c++)
                for (int kh = 0; kh < 3; kh++) {
                    __m256 *a = acc + ((long)(ob * C + c) * 3 + kh) * 12;
                    __m256 s[4][3];
                    for (int k = 0; k < 4; k++)
                        for (int kw = 0; kw < 3; kw++) s[k][kw] = a[k * 3 + kw];
                    for (int h = 0; h < H; h++) {
                        const float *row = xp + ((long)c * (H + 2) + h + kh) * wp;
                        const long r = (long)h * W;
                        // Whole vectors, then a partial last one (masked: dy past the row reads zero).
                        const int whole = tail == 8 ? vectors : vectors - 1;
                        for (int v = 0; v < whole; v++) {
                            const __m256 x0 = _mm256_loadu_ps(row + 8 * v), x1 = _mm256_loadu_ps(row + 8 * v + 1),
                                         x2 = _mm256_loadu_ps(row + 8 * v + 2);
                            for (int k = 0; k < 4; k++) {
                                const __m256 d = _mm256_loadu_ps(g[k] + r + 8 * v);
                                s[k][0] = _mm256_fmadd_ps(d, x0, s[k][0]);
                                s[k][1] = _mm256_fmadd_ps(d, x1, s[k][1]);
                                s[k][2] = _mm256_fmadd_ps(d, x2, s[k][2]);
                            }
                        }
                        if (whole == vectors) continue;
                        const int v = vectors - 1;
                        const __m256 x0 = _mm256_loadu_ps(row + 8 * v), x1 = _mm256_loadu_ps(row + 8 * v + 1),
                                     x2 = _mm256_loadu_ps(row + 8 * v + 2);
                        for (int k = 0; k < 4; k++) {
                            const __m256 d = _mm256_maskload_ps(g[k] + r + 8 * v, tail_mask(tail));
                            s[k][0] = _mm256_fmadd_ps(d, x0, s[k][0]);
                            s[k][1] = _mm256_fmadd_ps(d, x1, s[k][1]);
                            s[k][2] = _mm256_fmadd_ps(d, x2, s[k][2]);
                        }
                    }
                    for (int k = 0; k < 4; k++)
                        for (int kw = 0; kw < 3; kw++) a[k * 3 + kw] = s[k][kw];
                }
        }
    }
    for (int ob = 0; ob < blocks; ob++) {
        const int o = o0 + 4 * ob, o4 = o1 - o < 4 ? o1 - o : 4;
        for (int c = 0; c < C; c++)
            for (int kh = 0; kh < 3; kh++)
                for (int k = 0; k < o4; k++)
                    for (int kw = 0; kw < 3; kw++)
                        dw[(((long)(o + k) * C + c) * 3 + kh) * 3 + kw] = hsum(acc[((long)(ob * C + c) * 3 + kh) * 12 + k * 3 + kw]);
    }
    free(acc);
    free(xp);
}

#endif  // AVX2 and FMA
