#version 450
#extension GL_KHR_shader_subgroup_arithmetic : require
// What the checksum of a Linear y = x·Wᵀ + b needs from the device, gathered after its GEMM and
// before any epilogue (the test itself, and its rounding bound, are the host's: GEMMCheck.swift,
// which has the source's checksums in double). For x [M×K] and y [M×N]:
// - column sums of x, X̄_k = Σ_m x_mk, as a compensated (Kahan) sum and its correction, so the
//   host has X̄ to about u² (it multiplies X̄ with the group sums of W, and where a feature keeps
//   its sign across tokens X̄ is ~M times a row: an error of u there would cost the test its edge);
// - column sums of squares, c_k = Σ_m x_mk² (the rounding bound's);
// - per row m and group g of B columns, Σ_{j in g} y_mj and Σ_{j in g} y_mj² (the lanes share a
//   group's texels; the host's bound allows for any order of these B − 1 additions).
// Workgroups below `xGroups` take LANES column texels of x each, the rest one row of y each.
// `out` holds, from `base`: X̄ (K), its corrections (K), c (K), the group sums (M×G, row-major),
// their sums of squares (M×G).
layout(local_size_x = LANES) in;
layout(binding = 0) uniform samplerBuffer X;
layout(binding = 1) uniform samplerBuffer Y;
layout(std430, binding = 2) writeonly buffer Out { float o[]; };
layout(push_constant) uniform Push { uint M; uint N; uint K; uint G; uint B; uint base; uint xGroups; } pc;

void main() {
    const uint lane = gl_LocalInvocationID.x;
    if (gl_WorkGroupID.x < pc.xGroups) {
        const uint k4 = gl_WorkGroupID.x * uint(LANES) + lane, k4Count = pc.K >> 2;
        if (k4 >= k4Count) return;
        precise vec4 sum = vec4(0.0);
        precise vec4 carry = vec4(0.0);
        vec4 squares = vec4(0.0);
        for (uint m = 0u; m < pc.M; ++m) {
            const vec4 x = texelFetch(X, int(m * k4Count + k4));
            squares += x * x;
            precise vec4 t = x - carry;
            precise vec4 next = sum + t;
            carry = (next - sum) - t;
            sum = next;
        }
        for (int c = 0; c < 4; ++c) {
            const uint k = 4u * k4 + uint(c);
            o[pc.base + k] = sum[c];
            o[pc.base + pc.K + k] = carry[c];
            o[pc.base + 2u * pc.K + k] = squares[c];
        }
        return;
    }
    const uint m = gl_WorkGroupID.x - pc.xGroups;
    if (m >= pc.M) return;  // the whole workgroup
    const uint texels = pc.B >> 2, rowTexel = (m * pc.N) >> 2;
    for (uint g = 0u; g < pc.G; ++g) {
        const uint first = rowTexel + g * texels, end = min(first + texels, rowTexel + (pc.N >> 2));
        float sum = 0.0, squares = 0.0;
        for (uint t = first + lane; t < end; t += uint(LANES)) {
            const vec4 v = texelFetch(Y, int(t));
            sum += (v.x + v.y) + (v.z + v.w);
            squares += dot(v, v);
        }
        sum = subgroupAdd(sum);
        squares = subgroupAdd(squares);
        if (subgroupElect()) {
            o[pc.base + 3u * pc.K + m * pc.G + g] = sum;
            o[pc.base + 3u * pc.K + pc.M * pc.G + m * pc.G + g] = squares;
        }
    }
}
