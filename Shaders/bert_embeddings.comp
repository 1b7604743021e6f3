#version 450
// BERT embeddings before their LayerNorm: e[t] = (word[id[t]] + type[tt[t]]) + position[t],
// positions from 0 (Hugging Face). One 64-invocation workgroup per token. Token ids were
// range-checked on the host.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Ids { uint ids[]; };
layout(std430, binding = 1) readonly buffer Types { uint types[]; };
layout(std430, binding = 2) readonly buffer Word { float word[]; };
layout(std430, binding = 3) readonly buffer Position { float position[]; };
layout(std430, binding = 4) readonly buffer TokenType { float tokenType[]; };
layout(std430, binding = 5) writeonly buffer Out { float outv[]; };
layout(push_constant) uniform Push { uint H; } pc;

void main() {
    const uint t = gl_WorkGroupID.x;
    const uint id = ids[t], tt = types[t];
    for (uint d = gl_LocalInvocationID.x; d < pc.H; d += 64)
        outv[t * pc.H + d] = (word[id * pc.H + d] + tokenType[tt * pc.H + d]) + position[t * pc.H + d];
}
