// One attention head on one core, for the CPU forward: scores = (q·kᵀ)·scale + mask, softmax
// over keys, ctx = P·v, four queries at a time so their scores never leave L1. It replaces two
// small threaded sgemm calls per head (288 per BERT-base forward, each paying OpenBLAS's thread
// hand-off); the caller spreads heads over the cores instead. AVX2+FMA register-blocked loops
// (4 queries × 16 keys, then 4 queries × 16 features, 8 accumulators); without AVX2, or for a
// head size that is not a multiple of 16, it declines and the caller uses sgemm. Each score
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

__attribute__((target("avx2,fma")))
static void head_avx2(const float *q, const float *k, const float *v, long s, long d, long ld, float scale,
                      const float *mask, float *scratch, float *ctx) {
    const long sp = (s + 15) & ~15L;      // key columns, padded to whole 16-key blocks
    float *kt = scratch;                  // kᵀ: [d][sp], padding keys 0
    float *scores = kt + d * sp;          // [QUERIES][sp]
    float *qs = scores + QUERIES * sp;    // the block's queries, scaled: [QUERIES][d]
    for (long t = 0; t < d; t++) {
        for (long j = 0; j < s; j++) kt[t * sp + j] = k[j * ld + t];
        for (long j = s; j < sp; j++) kt[t * sp + j] = 0;
    }
    for (long i0 = 0; i0 < s; i0 += QUERIES) {
        const long rows = s - i0 < QUERIES ? s - i0 : QUERIES;
        for (long r = 0; r < QUERIES; r++)
            for (long t = 0; t < d; t++) qs[r * d + t] = r < rows ? q[(i0 + r) * ld + t] * scale : 0;
        for (long j0 = 0; j0 < sp; j0 += 16) {
            __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            for (long t = 0; t < d; t++) {
                const __m256 k0 = _mm256_loadu_ps(kt + t * sp + j0), k1 = _mm256_loadu_ps(kt + t * sp + j0 + 8);
                __m256 b = _mm256_broadcast_ss(qs + t);
                c00 = _mm256_fmadd_ps(b, k0, c00); c01 = _mm256_fmadd_ps(b, k1, c01);
                b = _mm256_broadcast_ss(qs + d + t);
                c10 = _mm256_fmadd_ps(b, k0, c10); c11 = _mm256_fmadd_ps(b, k1, c11);
                b = _mm256_broadcast_ss(qs + 2 * d + t);
                c20 = _mm256_fmadd_ps(b, k0, c20); c21 = _mm256_fmadd_ps(b, k1, c21);
                b = _mm256_broadcast_ss(qs + 3 * d + t);
                c30 = _mm256_fmadd_ps(b, k0, c30); c31 = _mm256_fmadd_ps(b, k1, c31);
            }
            _mm256_storeu_ps(scores + j0, c00); _mm256_storeu_ps(scores + j0 + 8, c01);
            _mm256_storeu_ps(scores + sp + j0, c10); _mm256_storeu_ps(scores + sp + j0 + 8, c11);
            _mm256_storeu_ps(scores + 2 * sp + j0, c20); _mm256_storeu_ps(scores + 2 * sp + j0 + 8, c21);
            _mm256_storeu_ps(scores + 3 * sp + j0, c30); _mm256_storeu_ps(scores + 3 * sp + j0 + 8, c31);
        }
        // Softmax over the s real keys; a missing query's row is zeroed so it adds nothing.
        for (long r = 0; r < QUERIES; r++) {
            if (r < rows) pf_softmax_row(scores + r * sp, s, mask);
            else for (long j = 0; j < s; j++) scores[r * sp + j] = 0;
        }
        for (long c0 = 0; c0 < d; c0 += 16) {
            __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            for (long j = 0; j < s; j++) {
                const __m256 v0 = _mm256_loadu_ps(v + j * ld + c0), v1 = _mm256_loadu_ps(v + j * ld + c0 + 8);
                __m256 p = _mm256_broadcast_ss(scores + j);
                a00 = _mm256_fmadd_ps(p, v0, a00); a01 = _mm256_fmadd_ps(p, v1, a01);
                p = _mm256_broadcast_ss(scores + sp + j);
                a10 = _mm256_fmadd_ps(p, v0, a10); a11 = _mm256_fmadd_ps(p, v1, a11);
                p = _mm256_broadcast_ss(scores + 2 * sp + j);
                a20 = _mm256_fmadd_ps(p, v0, a20); a21 = _mm256_fmadd_ps(p, v1, a21);
                p = _mm256_broadcast_ss(scores + 3 * sp + j);
                a30 = _mm256_fmadd_ps(p, v0, a30); a31 = _mm256_fmadd_ps(p, v1, a31);
            }
            const __m256 out[QUERIES][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31}};
            for (long r = 0; r < rows; r++) {
                _mm256_storeu_ps(ctx + (i0 + r) * ld + c0, out[r][0]);
                _mm256_storeu_ps(ctx + (i0 + r) * ld + c0 + 8, out[r][1]);
            }
        }
    }
}
#endif

long pf_attention_head_scratch(long s, long d) {
    const long sp = (s + 15) & ~15L;
    return d * sp + 4 * sp + 4 * d;  // kᵀ, the block's scores, its scaled queries
}

int pf_attention_head(const float *q, const float *k, const float *v, long s, long d, long ld, float scale,
                      const float *mask, float *scratch, float *ctx) {
#if defined(__x86_64__)
    if (pf_have_avx2() && d % 16 == 0 && d > 0 && s > 0) {
        head_avx2(q, k, v, s, d, ld, scale, mask, scratch, ctx);
        return 1;
    }
#endif
    (void)q; (void)k; (void)v; (void)s; (void)d; (void)ld; (void)scale; (void)mask; (void)scratch; (void)ctx;
    return 0;
}
