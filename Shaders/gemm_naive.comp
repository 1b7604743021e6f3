#version 450
// C[m][n] = sum_k A[m][k] * W[n][k] + bias[n]  ("NT": weights stored [out, in], as in HF).
// A plain reference kernel: one invocation per output, sequential accumulation in k so its
// rounding matches a CPU loop. The fast kernels live in their own files.
layout(local_size_x = 8, local_size_y = 8) in;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) writeonly buffer C { float c[]; };
layout(push_constant) uniform Push { uint M; uint N; uint K; } pc;
void main() {
    uint n = gl_GlobalInvocationID.x;
    uint m = gl_GlobalInvocationID.y;
    if (m >= pc.M || n >= pc.N) return;
    float acc = 0.0;
    for (uint k = 0; k < pc.K; ++k) acc += a[m * pc.K + k] * w[n * pc.K + k];
    c[m * pc.N + n] = acc + bias[n];
}
