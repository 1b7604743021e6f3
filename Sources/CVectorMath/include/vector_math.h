// exp and erf, vectorised, for the CPU forward's softmax and GELU (see vector_math.c).
#ifndef POOLFAULT_VECTOR_MATH_H
#define POOLFAULT_VECTOR_MATH_H

/// values[i] = 0.5·x·(1 + erf(x/√2)) for i < count, in place.
void pf_gelu_inplace(float *values, long count);

/// row[i] = softmax(row + mask)[i] over i < count (mask may be NULL), max-subtracted; a key
/// masked with a very negative score gets exactly 0.
void pf_softmax_row(float *row, long count, const float *mask);

/// The vector exp and erf themselves, one value at a time, for the accuracy tests.
float pf_exp(float x);
float pf_erf(float x);

/// "avx2+fma" or "baseline": which build of the loops runs on this CPU.
const char *pf_vector_math_isa(void);

// One attention head of one sequence on this thread (attention.c): q, k, v and ctx point at the
// head's first column of [s × ld] row-major matrices (d columns each); mask (or NULL) is added
// to every query's key scores. Only where pf_attention_head_supported(d) (AVX2+FMA, d a
// multiple of 16); elsewhere it does nothing. `scratch` holds pf_attention_head_scratch(s, d)
// floats of this thread's own.
int pf_attention_head_supported(long d);
void pf_attention_head(const float *q, const float *k, const float *v, long s, long d, long ld, float scale,
                       const float *mask, float *scratch, float *ctx);
long pf_attention_head_scratch(long s, long d);

// Row-wise LayerNorm of x[rows][cols] into y (may alias x), statistics in double (layernorm.c).
void pf_layernorm_rows(const float *x, long rows, long cols, const float *gamma, const float *beta, float eps, float *y);

// Weight integrity (integrity.c). Digest of each of `rows` rows of `cols` floats, as a kernel sees
// it at a row pitch of `pitch` floats (the padding words zero): two 32-bit sums per row into
// digests[2r], digests[2r+1].
void pf_row_digests(const float *values, long rows, long cols, long pitch, unsigned int *digests);

// Column sums of W[n][k] over groups of `group` rows, in double: sums[g·k + c] = Σ_{j in g} W[j][c]
// and squares[g·k + c] = Σ_{j in g} W[j][c]².
void pf_group_column_sums(const float *w, long n, long k, long group, double *sums, double *squares);

#endif
