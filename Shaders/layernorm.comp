#version 450
// y[row] = LayerNorm(x[row] (+ r[row])) · gamma + beta, one 64-invocation workgroup per row.
// Biased variance, eps inside the square root (Hugging Face). Two passes (mean, then squared
// deviations) for accuracy. RESIDUAL=1 adds r first (BERT's post-LN "x = LN(dense + x)").
// y may alias r or x: every element is read and written by the same invocation.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer R { float r[]; };
layout(std430, binding = 2) readonly buffer Gamma { float gamma[]; };
layout(std430, binding = 3) readonly buffer Beta { float beta[]; };
layout(std430, binding = 4) buffer Y { float y[]; };
layout(push_constant) uniform Push { uint H; float eps; } pc;
shared float partial[64];

float value(uint i) {
#if RESIDUAL
    return x[i] + r[i];
#else
    return x[i];
#endif
}

float reduceSum(float v) {
    const uint lid = gl_LocalInvocationID.x;
    partial[lid] = v;
    barrier();
    for (uint stride = 32; stride > 0; stride >>= 1) {
        if (lid < stride) partial[lid] += partial[lid + stride];
        barrier();
    }
    const float total = partial[0];
    barrier();
    return total;
}

void main() {
    const uint base = gl_WorkGroupID.x * pc.H;
    const uint lid = gl_LocalInvocationID.x;
    float s = 0.0;
    for (uint i = lid; i < pc.H; i += 64) s += value(base + i);
    const float mean = reduceSum(s) / float(pc.H);
    float q = 0.0;
    for (uint i = lid; i < pc.H; i += 64) { const float d = value(base + i) - mean; q += d * d; }
    const float inv = 1.0 / sqrt(reduceSum(q) / float(pc.H) + pc.eps);
    for (uint i = lid; i < pc.H; i += 64) y[base + i] = (value(base + i) - mean) * inv * gamma[i] + beta[i];
}
