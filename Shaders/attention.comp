#version 450
#extension GL_EXT_control_flow_attributes : require
// Multi-head self-attention core, one invocation per QUERIES queries of one head:
//   scores = q·kᵀ · scale + mask[key];  p = softmax(scores) (max-subtracted);  ctx = p · v.
// Q, K, V are [S][H] with head h in features h·HEAD_DIM … (Hugging Face's order); they are read
// as RGBA32F texel buffers. The LANES invocations of a workgroup (one SIMD group on lavapipe)
// all fetch the same K and V texels, which serve LANES·QUERIES queries: the fetches, not the
// arithmetic, are the cost on lavapipe, so each invocation takes several queries.
// One pass over the keys with a running maximum (online softmax): scores never leave
// registers, and what has been summed is rescaled when a new maximum arrives. Masked keys
// (mask ≈ -3.4e38) get weight exp(-huge) = 0 once any unmasked key has been seen.
layout(local_size_x = LANES) in;  // GPUKernels.lanes
layout(binding = 0) uniform samplerBuffer Q;
layout(binding = 1) uniform samplerBuffer K;
layout(binding = 2) uniform samplerBuffer V;
layout(std430, binding = 3) readonly buffer Mask { float mask[]; };
layout(std430, binding = 4) writeonly buffer Ctx { float ctx[]; };
layout(push_constant) uniform Push { uint S; uint H; float scale; } pc;

const int D4 = HEAD_DIM / 4;

void main() {
    const uint head = gl_WorkGroupID.y;
    const int rowTexels = int(pc.H) / 4;
    const int headTexel = int(head) * D4;
    uint query[QUERIES];
    vec4 q[QUERIES][D4], acc[QUERIES][D4];
    float m[QUERIES], sum[QUERIES];
    [[unroll]] for (int i = 0; i < QUERIES; ++i) {
        query[i] = gl_WorkGroupID.x * uint(LANES * QUERIES) + uint(LANES * i) + gl_LocalInvocationID.x;
        const int row = int(min(query[i], pc.S - 1u)) * rowTexels + headTexel;
        [[unroll]] for (int t = 0; t < D4; ++t) { q[i][t] = texelFetch(Q, row + t); acc[i][t] = vec4(0.0); }
        m[i] = -3.402823466e38;
        sum[i] = 0.0;
    }
    for (uint j = 0; j < pc.S; ++j) {
        const int key = int(j) * rowTexels + headTexel;
        vec4 kv[D4];
        [[unroll]] for (int t = 0; t < D4; ++t) kv[t] = texelFetch(K, key + t);
        float p[QUERIES];
        [[unroll]] for (int i = 0; i < QUERIES; ++i) {
            float s = 0.0;
            [[unroll]] for (int t = 0; t < D4; ++t) s += dot(q[i][t], kv[t]);
            s = s * pc.scale + mask[j];
            const float mNew = max(m[i], s);
            const float rescale = exp(m[i] - mNew);
            p[i] = exp(s - mNew);
            m[i] = mNew;
            sum[i] = sum[i] * rescale + p[i];
            [[unroll]] for (int t = 0; t < D4; ++t) acc[i][t] *= rescale;
        }
        [[unroll]] for (int t = 0; t < D4; ++t) {
            const vec4 v = texelFetch(V, key + t);
            [[unroll]] for (int i = 0; i < QUERIES; ++i) acc[i][t] += p[i] * v;
        }
    }
    [[unroll]] for (int i = 0; i < QUERIES; ++i) {
        if (query[i] >= pc.S) continue;
        const uint out0 = query[i] * pc.H + head * uint(HEAD_DIM);
        [[unroll]] for (int t = 0; t < D4; ++t) {
            const vec4 c = acc[i][t] / sum[i];
            ctx[out0 + 4 * t + 0] = c.x;
            ctx[out0 + 4 * t + 1] = c.y;
            ctx[out0 + 4 * t + 2] = c.z;
            ctx[out0 + 4 * t + 3] = c.w;
        }
    }
}
