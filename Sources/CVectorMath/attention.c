// One attention head on one core, for the CPU forward: scores = (q·kᵀ)·scale + mask, softmax
// over keys, ctx = P·v, four queries at a time so their scores never leave L1. It replaces two
// small threaded sgemm calls per head (288 per BERT-base forward, each paying OpenBLAS's thread
// hand-off); the caller spreads heads over the cores instead. AVX2+FMA register-blocked loops
// (4 queries × 16 keys, then 4 queries × 16 features, 8 accumulators); without AVX2, or for a
// head size that is not a multiple of 16, pf_attention_head_supported says no and the caller
// uses sgemm. Each score
// and each context value sums over its inner dimension in order with FMAs, as a dot product
// does: the results differ from sgemm's only in float rounding (tests bound it against double).

#include "vector_math.h"

#include <math.h>
#include <stddef.h>

#if defined(__x86_64__)
#include <immintrin.h>

int pf_have_avx2(void);
void pf_softmax_row(float *row, long count, const float *mask);

enum { QUERIES = 4 };

// The kernel's one register block, used for both products: out[r][0..16) = Σ_i a[r·aRow + i] ·
// b[i·bRow + 0..16) for the QUERIES rows r, i from 0 to n in order (FMA), 8 accumulators.
// Scores: a = the scaled queries, b = kᵀ; context: a = the probabilities, b = v.
__attribute__((target("avx2,fma")))
static inline void block_4x16(const float *a, long aRow, const float *b, long bRow, long n, __m256 out[QUERIES][2]) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    for (long i = 0; i < n; i++) {
        const __m256 b0 = _mm256_loadu_ps(b + i * bRow), b1 = _mm256_loadu_ps(b + i * bRow + 8);
        __m256 x = _mm256_broadcast_ss(a + i);
        c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
        x = _mm256_broadcast_ss(a + aRow + i);
        c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
        x = _mm256_broadcast_ss(a + 2 * aRow + i);
        c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
        x = _mm256_broadcast_ss(a + 3 * aRow + i);
        c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
    }
    out[0][0] = c00; out[0][1] = c01; out[1][0] = c10; out[1][1] = c11;
    out[2][0] = c20; out[2][1] = c21; out[3][0] = c30; out[3][1] = c31;
}

// Stores `rows` rows of a block, `stride` floats apart.
__attribute__((target("avx2,fma")))
static inline void store_block(float *to, long stride, long rows, __m256 block[QUERIES][2]) {
    for (long r = 0; r < rows; r++) {
        _mm256_storeu_ps(to + r * stride, block[r][0]);
        _mm256_storeu_ps(to + r * stride + 8, block[r][1]);
    }
}

__attribute__((target("avx2,fma")))
static void head_avx2(const float *q, const float *k, const float *v, long s, long d, long ld, float scale,
                      const float *mask, float *scratch, float *ctx) {
    const long sp = (s + 15) & ~15L;      // key columns, padded to whole 16-key blocks
    float *kt = scratch;                  // kᵀ: [d][sp], padding keys 0
    float *scores = kt + d * sp;          // [QUERIES][sp]
    float *qs = scores + QUERIES * sp;    // the block's queries, scaled: [QUERIES][d]
    __m256 block[QUERIES][2];
    for (long t = 0; t < d; t++) {
        for (long j = 0; j < s; j++) kt[t * sp + j] = k[j * ld + t];
        for (long j = s; j < sp; j++) kt[t * sp + j] = 0;
    }
    for (long i0 = 0; i0 < s; i0 += QUERIES) {
        const long rows = s - i0 < QUERIES ? s - i0 : QUERIES;
        for (long r = 0; r < QUERIES; r++)
            for (long t = 0; t < d; t++) qs[r * d + t] = r < rows ? q[(i0 + r) * ld + t] * scale : 0;
        for (long j0 = 0; j0 < sp; j0 += 16) {
            block_4x16(qs, d, kt + j0, sp, d, block);
            store_block(scores + j0, sp, QUERIES, block);
        }
        // Softmax over the s real keys; a missing query's row is zeroed so it adds nothing.
        for (long r = 0; r < QUERIES; r++) {
            if (r < rows) pf_softmax_row(scores + r * sp, s, mask);
            else for (long j = 0; j < s; j++) scores[r * sp + j] = 0;
        }
        for (long c0 = 0; c0 < d; c0 += 16) {
            block_4x16(scores, sp, v + c0, ld, s, block);
            store_block(ctx + i0 * ld + c0, ld, rows, block);
        }
    }
}
#endif

long pf_attention_head_scratch(long s, long d) {
    const long sp = (s + 15) & ~15L;
    return d * sp + 4 * sp + 4 * d;  // kᵀ, the block's scores, its scaled queries
}

int pf_attention_head_supported(long d) {
#if defined(__x86_64__)
    return pf_have_avx2() && d > 0 && d % 16 == 0;
#else
    (void)d;
    return 0;
#endif
}

void pf_attention_head(const float *q, const float *k, const float *v, long s, long d, long ld, float scale,
                       const float *mask, float *scratch, float *ctx) {
#if defined(__x86_64__)
    if (pf_attention_head_supported(d) && s > 0) head_avx2(q, k, v, s, d, ld, scale, mask, scratch, ctx);
#else
    (void)q; (void)k; (void)v; (void)s; (void)d; (void)ld; (void)scale; (void)mask; (void)scratch; (void)ctx;
#endif
}
