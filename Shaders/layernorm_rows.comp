#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_arithmetic : require
// y[row] = LayerNorm(x[row] (+ r[row])) · gamma + beta — the CPU-shaped LayerNorm for lavapipe:
// one SIMD group per row, no barriers. The same numerics as layernorm.comp (biased variance,
// eps inside the square root, two passes: mean, then squared deviations), but the row is read
// once, as RGBA32F texels held in registers, and the sums are subgroupAdd: on llvmpipe the
// 64-invocation kernel's per-lane storage-buffer loads are per-lane loops and its 14 barriers
// are coroutine switches. HIDDEN must be a multiple of 4. y may alias r or x: every texel is
// read and then written by the same invocation.
layout(local_size_x = LANES) in;  // GPUKernels.lanes: one subgroup
layout(binding = 0) uniform samplerBuffer X;
layout(binding = 1) uniform samplerBuffer R;
layout(binding = 2) uniform samplerBuffer Gamma;
layout(binding = 3) uniform samplerBuffer Beta;
layout(std430, binding = 4) writeonly buffer Y { vec4 y[]; };
layout(push_constant) uniform Push { uint H; float eps; } pc;

const int H4 = HIDDEN / 4;
const int PER_LANE = (H4 + LANES - 1) / LANES;

void main() {
    const int lane = int(gl_LocalInvocationID.x);
    const int base = int(gl_WorkGroupID.x) * H4;
    vec4 v[PER_LANE];
    float s = 0.0;
    [[unroll]] for (int i = 0; i < PER_LANE; ++i) {
        const int t = lane + i * LANES;
        v[i] = vec4(0.0);
        if (t < H4) {
#if RESIDUAL
            v[i] = texelFetch(X, base + t) + texelFetch(R, base + t);
#else
            v[i] = texelFetch(X, base + t);
#endif
        }
        s += (v[i].x + v[i].y) + (v[i].z + v[i].w);
    }
    const float mean = subgroupAdd(s) / float(HIDDEN);
    float q = 0.0;
    [[unroll]] for (int i = 0; i < PER_LANE; ++i) {
        if (lane + i * LANES < H4) { const vec4 d = v[i] - mean; q += dot(d, d); }
    }
    const float inv = 1.0 / sqrt(subgroupAdd(q) / float(HIDDEN) + pc.eps);
    [[unroll]] for (int i = 0; i < PER_LANE; ++i) {
        const int t = lane + i * LANES;
        if (t < H4) y[base + t] = (v[i] - mean) * inv * texelFetch(Gamma, t) + texelFetch(Beta, t);
    }
}
