#version 450
// ViT embeddings: x[0] = cls + position[0]; x[p+1] = patchEmbedding[p] + position[p+1].
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Patch { float patchOut[]; };  // [S-1][H]
layout(std430, binding = 1) readonly buffer Cls { float cls[]; };        // [H]
layout(std430, binding = 2) readonly buffer Position { float position[]; };  // [S][H]
layout(std430, binding = 3) writeonly buffer Out { float outv[]; };      // [S][H]
layout(push_constant) uniform Push { uint S; uint H; } pc;

void main() {
    const uint i = gl_GlobalInvocationID.x;
    if (i >= pc.S * pc.H) return;
    const uint t = i / pc.H, d = i % pc.H;
    const float e = t == 0u ? cls[d] : patchOut[(t - 1u) * pc.H + d];
    outv[i] = e + position[i];
}
