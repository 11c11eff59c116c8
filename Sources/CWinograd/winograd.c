// Winograd F(m×m, 3×3) tile transforms, eight tiles (or eight filter pairs) to a 256-bit vector.
// The α² GEMMs between them run on OpenBLAS (Kernels/WinogradConvolution.swift).
//
// Matrices: Lavin & Gray's modified Cook–Toom construction on the points 0, ±1 (m = 2),
// 0, ±1, ±2 (m = 4) and 0, ±1, ±2, ±1/2 (m = 6), plus the point at infinity:
//   Bᵀ[j] = coefficients of Π_{l≠j} (x − p_l),  G[j][k] = p_j^k / Π_{l≠j} (p_j − p_l),  Aᵀ[i][j] = p_j^i,
// so that y = Aᵀ[(G g) ⊙ (Bᵀ d)] is the exact 1-D correlation of d (α) with g (3) for m outputs.
// Stride 2 (the *S2 tables): y_i = g0 d_2i + g1 d_2i+1 + g2 d_2i+2 over d = x[2·p0 − 1 .. 2·p0 + 8]
// splits into the odd samples d_0, d_2, …, d_8 — a 2-tap correlation with (g0, g2), F(4, 2) on the
// points 0, ±1, 1/2, ∞ (points 0–4) — and the even samples d_1, …, d_7 times g1 (points 5–8).
// Tests/scripts/winograd_tables.py builds the tables in exact rational arithmetic and checks the
// ones below exactly; the tests compare every kernel against the Float64 im2col reference.
//
// The loops over α are fully unrolled with the tables as constants, and the file is compiled with
// -ffast-math, so the zeros and ones of the tables fold away (the transforms' sparsity for free).
#include "winograd.h"

#include <stdlib.h>

#if !defined(__AVX2__) || !defined(__FMA__)
// Built without AVX2 + FMA (another architecture): the kernels report themselves unsupported and
// the convolutions take the other paths.
int wg_cpu_supported(void) { return 0; }
void wg_weight_transform(int m, int st, const float *w, int o, int c, int flip, long xs, float *u) { abort(); }
void wg_input_transform(const wg_shape *s, const float *x, long tb, long t0, long t1, long ld, long xs, float *v) { abort(); }
void wg_output_transform(const wg_shape *s, const float *mt, long tb, long t0, long t1, long ld, long xs, float *y) { abort(); }
void wg_output_grad_transform(const wg_shape *s, const float *dy, long tb, long t0, long t1, long ld, long xs, float *mt) { abort(); }
void wg_weight_grad_transform(int m, int st, const float *du, int o, int c, long xs, float *dw) { abort(); }
int wg_groups(int m, int stride, int *spans) { abort(); }
#else

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

typedef float v8 __attribute__((vector_size(32), aligned(32)));

static const float BT2[4][4] = {{-1, 0, 1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, -1, 0, 1}};
static const float G2[4][3] = {{-1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
static const float AT2[2][4] = {{1, 1, 1, 0}, {0, 1, -1, 1}};

static const float BT4[6][6] = {{4, 0, -5, 0, 1, 0}, {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
static const float G4[6][3] = {{1.0f / 4, 0, 0}, {-1.0f / 6, -1.0f / 6, -1.0f / 6}, {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                               {1.0f / 24, 1.0f / 12, 1.0f / 6}, {1.0f / 24, -1.0f / 12, 1.0f / 6}, {0, 0, 1}};
static const float AT4[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

static const float BT6[8][8] = {{-1, 0, 5.25f, 0, -5.25f, 0, 1, 0},   {0, 1, 1, -4.25f, -4.25f, 1, 1, 0},
                                {0, -1, 1, 4.25f, -4.25f, -1, 1, 0},  {0, 0.5f, 0.25f, -2.5f, -1.25f, 2, 1, 0},
                                {0, -0.5f, 0.25f, 2.5f, -1.25f, -2, 1, 0}, {0, 2, 4, -2.5f, -5, 0.5f, 1, 0},
                                {0, -2, 4, 2.5f, -5, -0.5f, 1, 0},     {0, -1, 0, 5.25f, 0, -5.25f, 0, 1}};
static const float G6[8][3] = {{-1, 0, 0},
                               {-2.0f / 9, -2.0f / 9, -2.0f / 9},
                               {-2.0f / 9, 2.0f / 9, -2.0f / 9},
                               {1.0f / 90, 2.0f / 90, 4.0f / 90},
                               {1.0f / 90, -2.0f / 90, 4.0f / 90},
                               {32.0f / 45, 16.0f / 45, 8.0f / 45},
                               {32.0f / 45, -16.0f / 45, 8.0f / 45},
                               {0, 0, 1}};
static const float AT6[6][8] = {{1, 1, 1, 1, 1, 1, 1, 0},           {0, 1, -1, 2, -2, 0.5f, -0.5f, 0},
                                {0, 1, 1, 4, 4, 0.25f, 0.25f, 0},   {0, 1, -1, 8, -8, 0.125f, -0.125f, 0},
                                {0, 1, 1, 16, 16, 0.0625f, 0.0625f, 0}, {0, 1, -1, 32, -32, 0.03125f, -0.03125f, 1}};

static const float BT4S2[9][9] = {{1, 0, -2, 0, -1, 0, 2, 0, 0}, {0, 0, -1, 0, 1, 0, 2, 0, 0}, {0, 0, -1, 0, 3, 0, -2, 0, 0},
                                  {0, 0, 1, 0, 0, 0, -1, 0, 0},  {0, 0, 1, 0, -2, 0, -1, 0, 2}, {0, 1, 0, 0, 0, 0, 0, 0, 0},
                                  {0, 0, 0, 1, 0, 0, 0, 0, 0},   {0, 0, 0, 0, 0, 1, 0, 0, 0},   {0, 0, 0, 0, 0, 0, 0, 1, 0}};
static const float G4S2[9][3] = {{1, 0, 0}, {1.0f / 2, 0, 1.0f / 2}, {1.0f / 6, 0, -1.0f / 6}, {8.0f / 3, 0, 4.0f / 3}, {0, 0, 1.0f / 2},
                                 {0, 1, 0}, {0, 1, 0},                {0, 1, 0},                  {0, 1, 0}};
static const float AT4S2[4][9] = {{1, 1, 1, 1, 0, 1, 0, 0, 0},
                                  {0, 1, -1, 1.0f / 2, 0, 0, 1, 0, 0},
                                  {0, 1, 1, 1.0f / 4, 0, 0, 0, 1, 0},
                                  {0, 1, -1, 1.0f / 8, 1, 0, 0, 0, 1}};
// The stride-2 layer's input gradient, dx = convᵀ(dy, w), on the same points with the flipped kernel
// g' = (g2, g1, g0) (U from G4S2): from a 5×5 patch of dy (BT4S2T: dx_2i+1 = g'0 dy_i + g'2 dy_i+1 is
// F(4, 2) with (g'0, g'2) on points 0–4, dx_2i = g'1 dy_i on points 5–8) to an 8×8 tile of dx
// (AT4S2T). The dx tiles do not overlap; the dy patches do, by one row and column.
static const float BT4S2T[9][5] = {{1, -2, -1, 2, 0}, {0, -1, 1, 2, 0}, {0, -1, 3, -2, 0}, {0, 1, 0, -1, 0}, {0, 1, -2, -1, 2}, {1, 0, 0, 0, 0}, {0, 1, 0, 0, 0}, {0, 0, 1, 0, 0}, {0, 0, 0, 1, 0}};
static const float AT4S2T[8][9] = {{0, 0, 0, 0, 0, 1, 0, 0, 0}, {1, 1, 1, 1, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 1, 0, 0}, {0, 1, -1, 1.0f / 2, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 1, 0}, {0, 1, 1, 1.0f / 4, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 0, 1}, {0, 1, -1, 1.0f / 8, 1, 0, 0, 0, 0}};
// Stride 2 with m = 2 (for 4×4 output maps, one F(4×4) tile an image): F(2, 2) on the points 0, 1, ∞
// for the odd samples, α = 5, 25 multiplications per 2×2 output tile where direct convolution has
// 36; the same layout of tables, 16 groups.
static const float BT2S2[5][5] = {{1, 0, -1, 0, 0}, {0, 0, 1, 0, 0}, {0, 0, -1, 0, 1}, {0, 1, 0, 0, 0}, {0, 0, 0, 1, 0}};
static const float G2S2[5][3] = {{1, 0, 0}, {1, 0, 1}, {0, 0, 1}, {0, 1, 0}, {0, 1, 0}};
static const float AT2S2[2][5] = {{1, 1, 0, 1, 0}, {0, 1, 1, 0, 1}};
static const float BT2S2T[5][3] = {{1, -1, 0}, {0, 1, 0}, {0, -1, 1}, {1, 0, 0}, {0, 1, 0}};
static const float AT2S2T[4][5] = {{0, 0, 0, 1, 0}, {1, 1, 0, 0, 0}, {0, 0, 0, 0, 1}, {0, 1, 1, 0, 0}};
// Stride 2's transformed tile in groups of points with equal U = S_G w S_Gᵀ (the even points' rows
// of G4S2 are all (0, 1, 0)): the 16 even×even points, per odd row the 4 even columns, per odd
// column the 4 even rows, then the 25 odd×odd points alone — 36 groups. The transformed input and
// output keep each group's points in neighbouring slots (SLOT: point i·9 + j → slot), so one GEMM
// serves a group with its points' columns side by side; U has one plane per group (GROUP: point →
// group; SPANS: a group's first slot and point count). Tests/scripts/winograd_tables.py builds
// and checks these too.
static const int SLOT4S2[81] = {56, 57, 58, 59, 60, 16, 17, 18, 19, 61, 62, 63, 64, 65, 20, 21, 22, 23, 66, 67, 68, 69, 70, 24, 25, 26, 27, 71, 72, 73, 74, 75, 28, 29, 30, 31, 76, 77, 78, 79, 80, 32, 33, 34, 35, 36, 40, 44, 48, 52, 0, 1, 2, 3, 37, 41, 45, 49, 53, 4, 5, 6, 7, 38, 42, 46, 50, 54, 8, 9, 10, 11, 39, 43, 47, 51, 55, 12, 13, 14, 15};
static const int GROUP4S2[81] = {11, 12, 13, 14, 15, 1, 1, 1, 1, 16, 17, 18, 19, 20, 2, 2, 2, 2, 21, 22, 23, 24, 25, 3, 3, 3, 3, 26, 27, 28, 29, 30, 4, 4, 4, 4, 31, 32, 33, 34, 35, 5, 5, 5, 5, 6, 7, 8, 9, 10, 0, 0, 0, 0, 6, 7, 8, 9, 10, 0, 0, 0, 0, 6, 7, 8, 9, 10, 0, 0, 0, 0, 6, 7, 8, 9, 10, 0, 0, 0, 0};
static const int SLOT2S2[25] = {16, 17, 18, 4, 5, 19, 20, 21, 6, 7, 22, 23, 24, 8, 9, 10, 12, 14, 0, 1, 11, 13, 15, 2, 3};
static const int GROUP2S2[25] = {7, 8, 9, 1, 1, 10, 11, 12, 2, 2, 13, 14, 15, 3, 3, 4, 5, 6, 0, 0, 4, 5, 6, 0, 0};
static const int SPANS2S2[16][2] = {{0, 4}, {4, 2}, {6, 2}, {8, 2}, {10, 2}, {12, 2}, {14, 2}, {16, 1}, {17, 1}, {18, 1}, {19, 1}, {20, 1}, {21, 1}, {22, 1}, {23, 1}, {24, 1}};
static const int SPANS4S2[36][2] = {{0, 16}, {16, 4}, {20, 4}, {24, 4}, {28, 4}, {32, 4}, {36, 4}, {40, 4}, {44, 4}, {48, 4}, {52, 4}, {56, 1}, {57, 1}, {58, 1}, {59, 1}, {60, 1}, {61, 1}, {62, 1}, {63, 1}, {64, 1}, {65, 1}, {66, 1}, {67, 1}, {68, 1}, {69, 1}, {70, 1}, {71, 1}, {72, 1}, {73, 1}, {74, 1}, {75, 1}, {76, 1}, {77, 1}, {78, 1}, {79, 1}, {80, 1}};


int wg_cpu_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#define UNROLL _Pragma("clang loop unroll(full)")

// Point → slot, point → U plane, and whether the point computes its group's U, per algorithm:
// the identity at stride 1 (every point its own group), the tables above at stride 2.
#define ONE_TO_ONE(e) (e)
#define EVERY_POINT(e) 1
#define SLOT_2S2(e) SLOT2S2[e]
#define GROUP_2S2(e) GROUP2S2[e]
#define FIRST_2S2(e) (SLOT2S2[e] == SPANS2S2[GROUP2S2[e]][0])
#define SLOT_4S2(e) SLOT4S2[e]
#define GROUP_4S2(e) GROUP4S2[e]
#define FIRST_4S2(e) (SLOT4S2[e] == SPANS4S2[GROUP4S2[e]][0])

static inline v8 gather(const float *base, __m256i index) { return (v8)_mm256_i32gather_ps(base, index, 4); }

/// Lanes at or past `valid` set to zero (the padding columns of a block).
static inline v8 keep_lanes(v8 value, int valid) {
    if (valid >= 8) return value;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), lane);
    return (v8)_mm256_and_ps((__m256)value, _mm256_castsi256_ps(mask));
}

/// F(4×4) tiles in pairs: eight tiles whose offsets come in four pairs of neighbours (tile 2k+1
/// starts 4 columns after tile 2k) load as rows of 8 floats and transpose in registers, instead of
/// 36 gathers: row i of the six patch rows gives the six vectors d[i][0..5] (lane l = tile l).
static inline int pairs_adjacent(const int *off) {
    return off[1] == off[0] + 4 && off[3] == off[2] + 4 && off[5] == off[4] + 4 && off[7] == off[6] + 4;
}

/// Four vectors [tile 2k: e0 e1 e2 e3 | tile 2k+1: e0 e1 e2 e3] (k = 0..3) → four vectors e_j
/// with lane l = tile l's e_j.
static inline void transpose_pairs(__m256 r0, __m256 r1, __m256 r2, __m256 r3, v8 *e) {
    const __m256 u0 = _mm256_permute2f128_ps(r0, r2, 0x20), u1 = _mm256_permute2f128_ps(r0, r2, 0x31);
    const __m256 u2 = _mm256_permute2f128_ps(r1, r3, 0x20), u3 = _mm256_permute2f128_ps(r1, r3, 0x31);
    const __m256 t0 = _mm256_unpacklo_ps(u0, u1), t1 = _mm256_unpackhi_ps(u0, u1);
    const __m256 t2 = _mm256_unpacklo_ps(u2, u3), t3 = _mm256_unpackhi_ps(u2, u3);
    e[0] = (v8)_mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    e[1] = (v8)_mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    e[2] = (v8)_mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    e[3] = (v8)_mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
}

/// Row i of eight 6×6 patches at `row` + off[l], in four adjacent pairs: d[0..5] for the row.
static inline void load_patch_row_pairs(const float *row, const int *off, v8 *d) {
    v8 low[4], high[4];
    transpose_pairs(_mm256_loadu_ps(row + off[0]), _mm256_loadu_ps(row + off[2]), _mm256_loadu_ps(row + off[4]),
                    _mm256_loadu_ps(row + off[6]), low);
    transpose_pairs(_mm256_loadu_ps(row + off[0] + 2), _mm256_loadu_ps(row + off[2] + 2),
                    _mm256_loadu_ps(row + off[4] + 2), _mm256_loadu_ps(row + off[6] + 2), high);
    d[0] = low[0], d[1] = low[1], d[2] = low[2], d[3] = low[3], d[4] = high[2], d[5] = high[3];
}

/// The inverse of transpose_pairs: four vectors e_j (lane l = tile l) → for each pair k the
/// 8 floats [tile 2k: e0..e3 | tile 2k+1: e0..e3], stored at dst[k].
static inline void store_row_pairs(const v8 *e, float *const *dst) {
    const __m256 t0 = _mm256_unpacklo_ps((__m256)e[0], (__m256)e[1]), t1 = _mm256_unpackhi_ps((__m256)e[0], (__m256)e[1]);
    const __m256 t2 = _mm256_unpacklo_ps((__m256)e[2], (__m256)e[3]), t3 = _mm256_unpackhi_ps((__m256)e[2], (__m256)e[3]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    _mm256_storeu_ps(dst[0], _mm256_permute2f128_ps(u0, u1, 0x20));
    _mm256_storeu_ps(dst[1], _mm256_permute2f128_ps(u2, u3, 0x20));
    _mm256_storeu_ps(dst[2], _mm256_permute2f128_ps(u0, u1, 0x31));
    _mm256_storeu_ps(dst[3], _mm256_permute2f128_ps(u2, u3, 0x31));
}

/// The tiles [t0, t1) as units (image, tile row): each tile's offset into a per-channel scratch of
/// `rows`×`width` padded rows per unit, in a zero-padded vector of whole lanes (the pad lanes
/// repeat the last tile, and are zeroed after their transform).
static int *tile_offsets(long t0, long t1, int tw, int step, int rows, int width, long *lanes) {
    long n = t1 - t0, n8 = (n + 7) & ~7L, u0 = t0 / tw;
    int *off = malloc((size_t)n8 * sizeof(int));
    for (long k = 0; k < n8; k++) {
        long t = t0 + (k < n ? k : n - 1);
        off[k] = (int)(((t / tw) - u0) * rows * width + (long)step * (t % tw));
    }
    *lanes = n8;
    return off;
}

/// out = P d Qᵀ for small matrices, lane-wise: out[i][j] = Σ_k Σ_l P(i,k) d[k][l] Q(j,l), d K×L,
/// out ROWS×COLS; P(i,k) and Q(j,l) read a table as stored (AT_) or transposed (TR_).
#define AT_(table, r, c) table[r][c]
#define TR_(table, r, c) table[c][r]
#define SANDWICH(out, d, ROWS, K, COLS, L, P, PACC, Q, QACC)                                                  \
    do {                                                                                                      \
        v8 t_[(ROWS) * (L)];                                                                                  \
        UNROLL for (int i = 0; i < (ROWS); i++) UNROLL for (int l = 0; l < (L); l++) {                        \
            v8 acc = {0};                                                                                     \
            UNROLL for (int k = 0; k < (K); k++) acc += PACC(P, i, k) * (d)[k * (L) + l];                     \
            t_[i * (L) + l] = acc;                                                                            \
        }                                                                                                     \
        UNROLL for (int i = 0; i < (ROWS); i++) UNROLL for (int j = 0; j < (COLS); j++) {                     \
            v8 acc = {0};                                                                                     \
            UNROLL for (int l = 0; l < (L); l++) acc += t_[i * (L) + l] * QACC(Q, j, l);                      \
            (out)[i * (COLS) + j] = acc;                                                                      \
        }                                                                                                     \
    } while (0)

/// Per channel of src [B][channels][H][W]: each unit's P rows from row STEP·m·tr − LEAD, zero-padded
/// with LEAD columns on the left to `width`; then eight tiles at a time the P×P patches (F(4×4) in
/// neighbouring pairs, else gathered), transformed by TILE and stored into dst[α²][channels][ld]
/// (columns past t1 zero), point e at slot SLOT(e). The input transform reads α×α patches of x
/// every STEP·m pixels (STEP = the stride S; LEAD 1: the padding), the output gradient's m² patches
/// of dy (STEP 1, LEAD 0; dy's plane is the output's).
#define WG_PATCH_TRANSFORM(NAME, M, A, P, LEAD, STEP, S, TILE, SLOT)\
    static void NAME(const wg_shape *s, const float *src, int channels, long tb, long t0, long t1, long ld,           \
                     long xs, float *dst_all) {                                                                       \
        const int OH = (s->height - 1) / S + 1, OW = (s->width - 1) / S + 1;                                          \
        const int H = STEP == 1 ? OH : s->height, W = STEP == 1 ? OW : s->width;                                      \
        const int TH = (OH + M - 1) / M, TW = (OW + M - 1) / M;                                                       \
        const int width = STEP * M * TW + 2 * LEAD > STEP * M * (TW - 1) + P ? STEP * M * TW + 2 * LEAD               \
                                                                               : STEP * M * (TW - 1) + P;             \
        const long u0 = t0 / TW, u1 = (t1 - 1) / TW + 1, n = t1 - t0;                                                 \
        long n8;                                                                                                      \
        int *off = tile_offsets(t0, t1, TW, STEP * M, P, width, &n8);                                                 \
        float *pad = malloc((size_t)((u1 - u0) * P * width + 8) * sizeof(float));                                     \
        for (int c = 0; c < channels; c++) {                                                                          \
            for (long u = u0; u < u1; u++) {                                                                          \
                const long b = u / TH;                                                                                \
                const int tr = (int)(u % TH);                                                                         \
                for (int i = 0; i < P; i++) {                                                                         \
                    float *row = pad + ((u - u0) * P + i) * width;                                                    \
                    const int r = STEP * M * tr - LEAD + i;                                                           \
                    if (r < 0 || r >= H) { memset(row, 0, (size_t)width * sizeof(float)); continue; }                 \
                    memset(row, 0, LEAD * sizeof(float));                                                             \
                    memcpy(row + LEAD, src + ((b * channels + c) * H + r) * W, (size_t)W * sizeof(float));            \
                    memset(row + LEAD + W, 0, (size_t)(width - LEAD - W) * sizeof(float));                            \
                }                                                                                                     \
            }                                                                                                         \
            for (long k = 0; k < n8; k += 8) {                                                                        \
                const __m256i index = _mm256_loadu_si256((const __m256i *)(off + k));                                 \
                v8 d[P * P], out[A * A];                                                                              \
                if (M == 4 && STEP == 1 && (P == 6 || P == 4) && pairs_adjacent(off + k)) {                           \
                    UNROLL for (int i = 0; i < P; i++) {                                                              \
                        const float *row = pad + i * width;                                                           \
                        if (P == 6) { load_patch_row_pairs(row, off + k, d + i * P); continue; }                      \
                        transpose_pairs(_mm256_loadu_ps(row + off[k]), _mm256_loadu_ps(row + off[k + 2]),             \
                                        _mm256_loadu_ps(row + off[k + 4]), _mm256_loadu_ps(row + off[k + 6]), d + i * P);\
                    }                                                                                                 \
                } else {                                                                                              \
                    UNROLL for (int i = 0; i < P; i++) UNROLL for (int j = 0; j < P; j++)                             \
                        d[i * P + j] = gather(pad + i * width + j, index);                                            \
                }                                                                                                     \
                TILE(d, out);                                                                                         \
                float *dst = dst_all + (long)c * ld + (t0 - tb) + k;                                                  \
                UNROLL for (int e = 0; e < A * A; e++)                                                                \
                    _mm256_storeu_ps(dst + SLOT(e) * xs, (__m256)keep_lanes(out[e], (int)(n - k)));                   \
            }                                                                                                         \
        }                                                                                                             \
        free(pad);                                                                                                    \
        free(off);                                                                                                    \
    }

/// y[B][O][P][Q] (P×Q = the plane divided by S) from M[slots][O] (element ξ·xs + o·ld + t − tb), eight
/// tiles of M×M at a time, TILE taking the α² points to M² outputs, each tile clipped to the plane.
#define WG_OUTPUT_TRANSFORM(NAME, M, A, S, TILE, SLOT)                                                           \
    static void NAME(const wg_shape *s, const float *mt, long tb, long t0, long t1, long ld,                     \
                                     long xs, float *y) {                                                                  \
        const int H = (s->height - 1) / S + 1, W = (s->width - 1) / S + 1, O = s->out_channels;                  \
        const int TH = (H + M - 1) / M, TW = (W + M - 1) / M;                                                     \
        const long n = t1 - t0, plane = (long)H * W;                                                              \
        for (long k = 0; k < n; k += 8) {                                                                         \
            const int lanes = n - k < 8 ? (int)(n - k) : 8;                                                      \
            long base[8];                                                                                         \
            int rv[8], cv[8], paired = M == 4 && lanes == 8;                                                      \
            for (int l = 0; l < lanes; l++) {                                                                     \
                const long t = t0 + k + l, b = t / ((long)TH * TW);                                               \
                const int tr = (int)((t / TW) % TH), tc = (int)(t % TW);                                          \
                base[l] = b * O * plane + (long)M * tr * W + (long)M * tc;                                        \
                rv[l] = H - M * tr < M ? H - M * tr : M;                                                          \
                cv[l] = W - M * tc < M ? W - M * tc : M;                                                          \
                paired = paired && rv[l] == M && cv[l] == M && (l % 2 == 0 || base[l] == base[l - 1] + M);        \
            }                                                                                                     \
            for (int o = 0; o < O; o++) {                                                                         \
                const float *src = mt + (long)o * ld + (t0 - tb) + k;                                             \
                v8 in[A * A], out[M * M];                                                                         \
                UNROLL for (int e = 0; e < A * A; e++) in[e] = (v8)_mm256_loadu_ps(src + SLOT(e) * xs); \
                TILE(in, out);                                                                                    \
                if (paired) {                                                                                     \
                    /* F(4×4), four pairs of neighbouring whole tiles: a row of 8 floats a pair. */               \
                    UNROLL for (int i = 0; i < M; i++) {                                                          \
                        float *dst[4];                                                                            \
                        UNROLL for (int p = 0; p < 4; p++) dst[p] = y + base[2 * p] + o * plane + (long)i * W;    \
                        store_row_pairs(out + i * M, dst);                                                        \
                    }                                                                                             \
                    continue;                                                                                     \
                }                                                                                                 \
                float lane[M * M][8] __attribute__((aligned(32)));                                                \
                UNROLL for (int e = 0; e < M * M; e++) _mm256_store_ps(lane[e], (__m256)out[e]);                  \
                for (int l = 0; l < lanes; l++) {                                                                 \
                    float *dst = y + base[l] + o * plane;                                                         \
                    if (rv[l] == M && cv[l] == M) {                                                               \
                        UNROLL for (int i = 0; i < M; i++) UNROLL for (int j = 0; j < M; j++)                     \
                            dst[i * W + j] = lane[i * M + j][l];                                                  \
                    } else {                                                                                      \
                        for (int i = 0; i < rv[l]; i++)                                                           \
                            for (int j = 0; j < cv[l]; j++) dst[i * W + j] = lane[i * M + j][l];                  \
                    }                                                                                             \
                }                                                                                                 \
            }                                                                                                     \
        }                                                                                                         \
    }

// Per algorithm K (tables BT##K, G##K, AT##K: tile side M, α = A points, stride S): the input
// transform Bᵀ d B, the output transform Aᵀ m A, its adjoint A dy Aᵀ (the output gradient into the
// transformed domain), the weight transform G g Gᵀ and its adjoint Gᵀ du G.
#define WG_KERNELS(K, M, A, S, SLOT, GROUP, FIRST)                                                                \
    static inline void input_tile_##K(const v8 *d, v8 *out) { SANDWICH(out, d, A, A, A, A, BT##K, AT_, BT##K, AT_); } \
    static inline void output_tile_##K(const v8 *mt, v8 *out) { SANDWICH(out, mt, M, A, M, A, AT##K, AT_, AT##K, AT_); } \
    static inline void output_grad_tile_##K(const v8 *d, v8 *out) { SANDWICH(out, d, A, M, A, M, AT##K, TR_, AT##K, TR_); } \
    static inline void weight_tile_##K(const v8 *g, v8 *out) { SANDWICH(out, g, A, 3, A, 3, G##K, AT_, G##K, AT_); }  \
    static inline void weight_grad_tile_##K(const v8 *du, v8 *out) { SANDWICH(out, du, 3, A, 3, A, G##K, TR_, G##K, TR_); } \
                                                                                                                  \
    /* V[α²][C][ld] from x[B][C][H][W] and M'[α²][O][ld] from dy[B][O][P][Q]. */                                      \
    WG_PATCH_TRANSFORM(input_transform_##K, M, A, A, 1, S, S, input_tile_##K, SLOT)                                   \
    WG_PATCH_TRANSFORM(output_grad_transform_##K, M, A, M, 0, 1, S, output_grad_tile_##K, SLOT)                       \
                                                                                                                      \
    WG_OUTPUT_TRANSFORM(output_transform_##K, M, A, S, output_tile_##K, SLOT)                                       \
                                                                                                                  \
    /* U[groups][N] for N = O·C filter pairs, eight pairs at a time (pair n of the flipped kernel is */           \
    /* (c, o) = (n / O, n mod O), read rotated by 180°); the first point of a group writes its plane. */          \
    static void weight_transform_##K(const float *w, int O, int C, int flip, long xs, float *u) {                         \
        const long N = (long)O * C;                                                                               \
        for (long n = 0; n < N; n += 8) {                                                                         \
            const int lanes = N - n < 8 ? (int)(N - n) : 8;                                                      \
            int src[8];                                                                                           \
            for (int l = 0; l < 8; l++) {                                                                         \
                const long p = n + (l < lanes ? l : lanes - 1);                                                   \
                src[l] = (int)(flip ? ((p % O) * C + p / O) * 9 : p * 9);                                         \
            }                                                                                                     \
            const __m256i index = _mm256_loadu_si256((const __m256i *)src);                                       \
            v8 g[9], out[A * A];                                                                                  \
            UNROLL for (int e = 0; e < 9; e++) g[e] = gather(w + (flip ? 8 - e : e), index);                      \
            weight_tile_##K(g, out);                                                                              \
            float lane[8] __attribute__((aligned(32)));                                                           \
            UNROLL for (int e = 0; e < A * A; e++) {                                                              \
                if (!FIRST(e)) continue;                                                                          \
                float *plane = u + GROUP(e) * xs + n;                                                             \
                if (lanes == 8) { _mm256_storeu_ps(plane, (__m256)out[e]); continue; }                             \
                _mm256_store_ps(lane, (__m256)out[e]);                                                            \
                for (int l = 0; l < lanes; l++) plane[l] = lane[l];                                               \
            }                                                                                                     \
        }                                                                                                         \
    }                                                                                                             \
                                                                                                                  \
    /* dw[N][3][3] from dU[groups][N], eight filter pairs at a time: a group's dU (the sum over its points, */     \
    /* which share one U) enters at its first point, the others add nothing. */                                   \
    static void weight_grad_transform_##K(const float *du, int O, int C, long xs, float *dw) {                            \
        const long N = (long)O * C;                                                                               \
        for (long n = 0; n < N; n += 8) {                                                                         \
            const int lanes = N - n < 8 ? (int)(N - n) : 8;                                                      \
            v8 in[A * A], out[9];                                                                                 \
            float lane[8] __attribute__((aligned(32)));                                                           \
            UNROLL for (int e = 0; e < A * A; e++) {                                                              \
                const float *plane = du + GROUP(e) * xs + n;                                                      \
                if (!FIRST(e)) { in[e] = (v8){0}; continue; }                                                     \
                if (lanes == 8) { in[e] = (v8)_mm256_loadu_ps(plane); continue; }                                  \
                for (int l = 0; l < 8; l++) lane[l] = l < lanes ? plane[l] : 0;                                   \
                in[e] = (v8)_mm256_load_ps(lane);                                                                 \
            }                                                                                                     \
            weight_grad_tile_##K(in, out);                                                                        \
            float all[9][8] __attribute__((aligned(32)));                                                         \
            UNROLL for (int e = 0; e < 9; e++) _mm256_store_ps(all[e], (__m256)out[e]);                           \
            for (int l = 0; l < lanes; l++)                                                                       \
                UNROLL for (int e = 0; e < 9; e++) dw[(n + l) * 9 + e] = all[e][l];                               \
        }                                                                                                         \
    }

WG_KERNELS(2, 2, 4, 1, ONE_TO_ONE, ONE_TO_ONE, EVERY_POINT)
WG_KERNELS(4, 4, 6, 1, ONE_TO_ONE, ONE_TO_ONE, EVERY_POINT)
WG_KERNELS(6, 6, 8, 1, ONE_TO_ONE, ONE_TO_ONE, EVERY_POINT)
WG_KERNELS(2S2, 2, 5, 2, SLOT_2S2, GROUP_2S2, FIRST_2S2)
WG_KERNELS(4S2, 4, 9, 2, SLOT_4S2, GROUP_4S2, FIRST_4S2)

// The stride-2 input gradient: (m+1)×(m+1) patches of dy (plane P×Q) every m pixels in, 2m×2m tiles
// of dx (plane H×W) out; the GEMMs between take U of the flipped kernel (weight_transform_mS2, flip).
#define WG_TRANSPOSED(K, M, A, P, MO, SLOT)                                                                        \
    static inline void input_tile_##K(const v8 *d, v8 *out) { SANDWICH(out, d, A, P, A, P, BT##K, AT_, BT##K, AT_); } \
    static inline void output_tile_##K(const v8 *mt, v8 *out) { SANDWICH(out, mt, MO, A, MO, A, AT##K, AT_, AT##K, AT_); } \
    WG_PATCH_TRANSFORM(input_transform_##K, M, A, P, 0, 1, 2, input_tile_##K, SLOT)                                   \
    WG_OUTPUT_TRANSFORM(output_transform_##K, MO, A, 1, output_tile_##K, SLOT)

WG_TRANSPOSED(2S2T, 2, 5, 3, 4, SLOT_2S2)
WG_TRANSPOSED(4S2T, 4, 9, 5, 8, SLOT_4S2)

#define WG_DISPATCH(call, ...)                      \
    switch (stride * 8 + m) {                       \
    case 8 + 2: call##_2(__VA_ARGS__); break;       \
    case 8 + 4: call##_4(__VA_ARGS__); break;       \
    case 8 + 6: call##_6(__VA_ARGS__); break;       \
    case 16 + 2: call##_2S2(__VA_ARGS__); break;    \
    case 16 + 4: call##_4S2(__VA_ARGS__); break;    \
    default: abort();                               \
    }

void wg_weight_transform(int m, int stride, const float *w, int out_channels, int channels, int flip, long xs, float *u) {
    WG_DISPATCH(weight_transform, w, out_channels, channels, flip, xs, u)
}

void wg_input_transform(const wg_shape *s, const float *x, long t_base, long t0, long t1, long ld, long xs, float *v) {
    const int m = s->m, stride = s->stride;
    if (t1 <= t0) return;
    if (s->transposed) {
        if (stride != 2) abort();
        if (m == 2) input_transform_2S2T(s, x, s->channels, t_base, t0, t1, ld, xs, v);
        else if (m == 4) input_transform_4S2T(s, x, s->channels, t_base, t0, t1, ld, xs, v);
        else abort();
        return;
    }
    WG_DISPATCH(input_transform, s, x, s->channels, t_base, t0, t1, ld, xs, v)
}

void wg_output_transform(const wg_shape *s, const float *mt, long t_base, long t0, long t1, long ld, long xs, float *y) {
    const int m = s->m, stride = s->stride;
    if (t1 <= t0) return;
    if (s->transposed) {
        if (stride != 2) abort();
        if (m == 2) output_transform_2S2T(s, mt, t_base, t0, t1, ld, xs, y);
        else if (m == 4) output_transform_4S2T(s, mt, t_base, t0, t1, ld, xs, y);
        else abort();
        return;
    }
    WG_DISPATCH(output_transform, s, mt, t_base, t0, t1, ld, xs, y)
}

void wg_output_grad_transform(const wg_shape *s, const float *dy, long t_base, long t0, long t1, long ld, long xs,
                              float *mt) {
    const int m = s->m, stride = s->stride;
    if (t1 <= t0) return;
    WG_DISPATCH(output_grad_transform, s, dy, s->out_channels, t_base, t0, t1, ld, xs, mt)
}

int wg_groups(int m, int stride, int *spans) {
    const int alpha = stride == 1 ? m + 2 : 2 * m + 1;
    if (stride == 2 && m == 2) {
        if (spans) memcpy(spans, SPANS2S2, sizeof SPANS2S2);
        return (int)(sizeof SPANS2S2 / sizeof SPANS2S2[0]);
    }
    if (stride == 2 && m == 4) {
        if (spans) memcpy(spans, SPANS4S2, sizeof SPANS4S2);
        return (int)(sizeof SPANS4S2 / sizeof SPANS4S2[0]);
    }
    if (stride != 1) abort();
    for (int e = 0; spans && e < alpha * alpha; e++) spans[2 * e] = e, spans[2 * e + 1] = 1;
    return alpha * alpha;
}

void wg_weight_grad_transform(int m, int stride, const float *du, int out_channels, int channels, long xs, float *dw) {
    WG_DISPATCH(weight_grad_transform, du, out_channels, channels, xs, dw)
}

#endif  // AVX2 and FMA
