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

#endif
