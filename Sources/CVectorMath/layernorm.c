// LayerNorm rows for the CPU forward (the oracle's own): mean and biased variance accumulated in
// double, two passes, eps inside the sqrt — as CPUKernels.layerNorm documents — but in 8
// independent double lanes the compiler vectorises (built for the baseline and for AVX2+FMA,
// like vector_math.c). The lanes fix the order of the double additions in this code; against
// one running sum they differ by double rounding (~1e-16), far below the float result's ulp.

#include "vector_math.h"

enum { LANES = 8 };

#define LAYERNORM_BODY                                                                          \
    for (long row = 0; row < rows; row++) {                                                     \
        const float *in = x + row * cols;                                                       \
        float *out = y + row * cols;                                                            \
        const long whole = cols & ~(long)(LANES - 1);                                           \
        double lanes[LANES] = {0};                                                              \
        for (long i = 0; i < whole; i += LANES)                                                 \
            for (int l = 0; l < LANES; l++) lanes[l] += (double)in[i + l];                      \
        double sum = 0;                                                                         \
        for (int l = 0; l < LANES; l++) sum += lanes[l];                                        \
        for (long i = whole; i < cols; i++) sum += (double)in[i];                               \
        const double mean = sum / (double)cols;                                                 \
        for (int l = 0; l < LANES; l++) lanes[l] = 0;                                           \
        for (long i = 0; i < whole; i += LANES)                                                 \
            for (int l = 0; l < LANES; l++) {                                                   \
                const double dv = (double)in[i + l] - mean;                                     \
                lanes[l] += dv * dv;                                                            \
            }                                                                                   \
        double squares = 0;                                                                     \
        for (int l = 0; l < LANES; l++) squares += lanes[l];                                    \
        for (long i = whole; i < cols; i++) {                                                   \
            const double dv = (double)in[i] - mean;                                             \
            squares += dv * dv;                                                                 \
        }                                                                                       \
        const double inverse = 1.0 / sqrt(squares / (double)cols + (double)eps);                \
        for (long i = 0; i < cols; i++)                                                         \
            out[i] = (float)(((double)in[i] - mean) * inverse) * gamma[i] + beta[i];            \
    }

#include <math.h>

#if defined(__x86_64__)
int pf_have_avx2(void);
__attribute__((target("avx2,fma")))
static void layernorm_avx2(const float *x, long rows, long cols, const float *gamma, const float *beta, float eps, float *y) {
    LAYERNORM_BODY
}
#endif

static void layernorm_baseline(const float *x, long rows, long cols, const float *gamma, const float *beta, float eps, float *y) {
    LAYERNORM_BODY
}

void pf_layernorm_rows(const float *x, long rows, long cols, const float *gamma, const float *beta, float eps, float *y) {
#if defined(__x86_64__)
    if (pf_have_avx2()) { layernorm_avx2(x, rows, cols, gamma, beta, eps, y); return; }
#endif
    layernorm_baseline(x, rows, cols, gamma, beta, eps, y);
}
