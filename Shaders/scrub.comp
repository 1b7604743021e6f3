#version 450
#extension GL_KHR_shader_subgroup_arithmetic : require
// Weight scrubbing: the digest of every row of a weight buffer as it lies in device memory,
// for the host to compare with the digests of the source (WeightIntegrity.rowDigests, the same
// formula): two 32-bit sums over the row of a bijective mix of each word with its position.
// A workgroup digests one row slot (`pitch` words, padding included); the subgroups' sums are
// added into the row's digest, which the host zeroed.
layout(local_size_x = LANES) in;
#if VEC4
layout(std430, binding = 0) readonly buffer W { uvec4 w4[]; };
#else
layout(std430, binding = 0) readonly buffer W { uint w1[]; };
#endif
layout(std430, binding = 1) buffer Digests { uint digests[]; };
layout(push_constant) uniform Push { uint pitch; uint rows; uint base; } pc;

uint fmix32(uint h) {
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

uvec2 terms(uint bits, uint k) {
    return uvec2(fmix32(bits ^ (k * 0x9E3779B1u)), fmix32((bits + 0x7F4A7C15u) ^ (k * 0x85EBCA77u + 0x165667B1u)));
}

void main() {
    const uint row = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (row >= pc.rows) return;  // the whole workgroup, never part of a subgroup
    uvec2 h = uvec2(0u);
#if VEC4
    const uint texels = pc.pitch >> 2;
    for (uint t = gl_LocalInvocationID.x; t < texels; t += uint(LANES)) {
        const uvec4 v = w4[row * texels + t];
        const uint k = 4u * t;
        h += terms(v.x, k) + terms(v.y, k + 1u) + terms(v.z, k + 2u) + terms(v.w, k + 3u);
    }
#else
    for (uint k = gl_LocalInvocationID.x; k < pc.pitch; k += uint(LANES)) h += terms(w1[row * pc.pitch + k], k);
#endif
    h = subgroupAdd(h);
    if (subgroupElect()) {
        atomicAdd(digests[2u * (pc.base + row)], h.x);
        atomicAdd(digests[2u * (pc.base + row) + 1u], h.y);
    }
}
