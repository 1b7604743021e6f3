// What the source weights must look like where the kernels read them (WeightIntegrity.swift
// says why): a digest of every row, and the column sums of each group of a Linear's output
// rows. In C so the loops vectorise (built for the baseline and for AVX2, picked at run time as
// in vector_math.c): they run over every weight a context loads.

#include "vector_math.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

int pf_have_avx2(void);

// murmur3's finaliser: a bijection of 32-bit words, so changing one word always changes its term.
static inline __attribute__((always_inline)) uint32_t fmix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

// The two terms of word `bits` at position k of its row (scrub.comp computes the same).
#define DIGEST_TERMS(bits, k)                                                       \
    a += fmix32((bits) ^ ((uint32_t)(k) * 0x9E3779B1u));                            \
    b += fmix32(((bits) + 0x7F4A7C15u) ^ ((uint32_t)(k) * 0x85EBCA77u + 0x165667B1u));

#define DIGEST_BODY                                                                 \
    uint32_t padA = 0, padB = 0;                                                    \
    {                                                                               \
        uint32_t a = 0, b = 0;                                                      \
        for (long k = cols; k < pitch; k++) { DIGEST_TERMS(0u, k) }                 \
        padA = a; padB = b;                                                         \
    }                                                                               \
    for (long r = 0; r < rows; r++) {                                               \
        const uint32_t *w = (const uint32_t *)values + r * cols;                    \
        uint32_t a = padA, b = padB;                                                \
        for (long k = 0; k < cols; k++) { DIGEST_TERMS(w[k], k) }                   \
        digests[2 * r] = a;                                                         \
        digests[2 * r + 1] = b;                                                     \
    }

// Σ and Σ² of each column over a group of rows, in double: exact enough that the checks' own
// arithmetic (in double too) adds nothing that matters to their bound.
#define GROUP_BODY                                                                  \
    for (long g = 0; g * group < n; g++) {                                          \
        const long first = g * group, last = first + group < n ? first + group : n; \
        double *s = sums + g * k, *q = squares + g * k;                             \
        for (long c = 0; c < k; c++) { s[c] = 0; q[c] = 0; }                        \
        for (long j = first; j < last; j++) {                                       \
            const float *row = w + j * k;                                           \
            for (long c = 0; c < k; c++) {                                          \
                const double v = (double)row[c];                                    \
                s[c] += v;                                                          \
                q[c] += v * v;                                                      \
            }                                                                       \
        }                                                                           \
    }

#if defined(__x86_64__)
__attribute__((target("avx2"))) static void digests_avx2(const float *values, long rows, long cols, long pitch,
                                                         uint32_t *digests) { DIGEST_BODY }
__attribute__((target("avx2,fma"))) static void groups_avx2(const float *w, long n, long k, long group, double *sums,
                                                            double *squares) { GROUP_BODY }
#endif
static void digests_baseline(const float *values, long rows, long cols, long pitch, uint32_t *digests) { DIGEST_BODY }
static void groups_baseline(const float *w, long n, long k, long group, double *sums, double *squares) { GROUP_BODY }

void pf_row_digests(const float *values, long rows, long cols, long pitch, uint32_t *digests) {
#if defined(__x86_64__)
    if (pf_have_avx2()) { digests_avx2(values, rows, cols, pitch, digests); return; }
#endif
    digests_baseline(values, rows, cols, pitch, digests);
}

void pf_group_column_sums(const float *w, long n, long k, long group, double *sums, double *squares) {
#if defined(__x86_64__)
    if (pf_have_avx2()) { groups_avx2(w, n, k, group, sums, squares); return; }
#endif
    groups_baseline(w, n, k, group, sums, squares);
}
