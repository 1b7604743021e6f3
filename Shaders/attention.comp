#version 450
// Multi-head self-attention core, one invocation per (query, head):
//   scores = q·kᵀ · scale + mask[key];  p = softmax(scores) (max-subtracted);  ctx = p · v.
// Q, K, V are [S][H] with head h in features h·HEAD_DIM … (Hugging Face's order); they are read
// as RGBA32F texel buffers. The LANES invocations of a workgroup (one SIMD group on lavapipe) are
// LANES queries of one head, so every K and V fetch has the same coordinate in all lanes. Probabilities
// are normalised before multiplying V, as Hugging Face does. `scores` is scratch [heads][S][S].
layout(local_size_x = LANES) in;  // GPUKernels.lanes
layout(binding = 0) uniform samplerBuffer Q;
layout(binding = 1) uniform samplerBuffer K;
layout(binding = 2) uniform samplerBuffer V;
layout(std430, binding = 3) readonly buffer Mask { float mask[]; };
layout(std430, binding = 4) buffer Scores { float scores[]; };
layout(std430, binding = 5) writeonly buffer Ctx { float ctx[]; };
layout(push_constant) uniform Push { uint S; uint H; float scale; } pc;

const int D4 = HEAD_DIM / 4;

void main() {
    const uint query = gl_GlobalInvocationID.x;
    const uint head = gl_WorkGroupID.y;
    const uint qi = min(query, pc.S - 1u);
    const int rowTexels = int(pc.H) / 4;
    const int headTexel = int(head) * D4;
    vec4 q[D4];
    for (int t = 0; t < D4; ++t) q[t] = texelFetch(Q, int(qi) * rowTexels + headTexel + t);
    const uint base = (head * pc.S + qi) * pc.S;

    float m = -3.402823466e38;
    for (uint j = 0; j < pc.S; ++j) {
        float s = 0.0;
        for (int t = 0; t < D4; ++t) s += dot(q[t], texelFetch(K, int(j) * rowTexels + headTexel + t));
        s = s * pc.scale + mask[j];
        scores[base + j] = s;
        m = max(m, s);
    }
    float sum = 0.0;
    for (uint j = 0; j < pc.S; ++j) {
        const float p = exp(scores[base + j] - m);
        scores[base + j] = p;
        sum += p;
    }
    vec4 acc[D4];
    for (int t = 0; t < D4; ++t) acc[t] = vec4(0.0);
    for (uint j = 0; j < pc.S; ++j) {
        const float p = scores[base + j] / sum;
        for (int t = 0; t < D4; ++t) acc[t] += p * texelFetch(V, int(j) * rowTexels + headTexel + t);
    }
    if (query >= pc.S) return;
    const uint out0 = query * pc.H + head * uint(HEAD_DIM);
    for (int t = 0; t < D4; ++t) {
        ctx[out0 + 4 * t + 0] = acc[t].x;
        ctx[out0 + 4 * t + 1] = acc[t].y;
        ctx[out0 + 4 * t + 2] = acc[t].z;
        ctx[out0 + 4 * t + 3] = acc[t].w;
    }
}
