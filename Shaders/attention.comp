#version 450
#extension GL_EXT_control_flow_attributes : require
#if KEY_SHUFFLE
#extension GL_KHR_shader_subgroup_shuffle : require
#endif
// Multi-head self-attention core, one invocation per QUERIES queries of one head:
//   scores = q·kᵀ · scale + mask[key];  p = softmax(scores) (max-subtracted);  ctx = p · v.
// Q, K, V are [S][H] with head h in features h·HEAD_DIM … (Hugging Face's order); they are read
// as RGBA32F texel buffers.
//
// One pass over the keys with a running maximum (online softmax), KEYS keys at a time: their
// scores first, then the block's maximum, one rescale of what has been summed and one exp per
// key. Keys past S in the last block get weight exactly 0. Masked keys (mask ≈ -3.4e38) get
// weight exp(-huge) = 0 once any unmasked key has been seen.
//
// Every invocation needs the same key and value rows. KEY_SHUFFLE 0 (GPUs: KEYS 1): each lane
// fetches them, which a GPU serves as one broadcast. KEY_SHUFFLE 1 (lavapipe): a texel fetch is a
// call that gathers lane by lane, so 16 lanes fetching one row cost 16 gathers; instead lane i
// fetches key j0 + i of the block, and subgroupShuffle with a constant lane (a broadcast once
// compiled) hands each key to every lane, as gemm_texel.comp does with A. ViT-B/16 on lavapipe,
// per forward: a rescale per key and every lane fetching, 41.6 ms; blocks of 4 keys fetched by
// every lane (7 queries per invocation to share the fetches), 28 ms; shuffled blocks of 16 keys
// (2 queries), 16.8 ms, and ~0.7 s less cold JIT: GPUKernels.attentionKeyBlock.
layout(local_size_x = LANES) in;  // GPUKernels.lanes: one subgroup per workgroup
layout(binding = 0) uniform samplerBuffer Q;
layout(binding = 1) uniform samplerBuffer K;
layout(binding = 2) uniform samplerBuffer V;
layout(std430, binding = 3) readonly buffer Mask { float mask[]; };
layout(std430, binding = 4) writeonly buffer Ctx { vec4 ctx4[]; };  // vec4 stores: one per-lane loop each on lavapipe
layout(push_constant) uniform Push { uint S; uint H; float scale; } pc;

#if !KEY_SHUFFLE && KEYS != 1
#error "without KEY_SHUFFLE every lane fetches one key at a time: KEYS must be 1"
#endif
const int D4 = HEAD_DIM / 4;
const float lowest = -3.402823466e38;

// Texel t of key b of the block: this lane's own fetch broadcast from lane b, or fetched here.
vec4 blockTexel(const vec4 mine, int b) {
#if KEY_SHUFFLE
    return subgroupShuffle(mine, uint(b));
#else
    return mine;
#endif
}

void main() {
    const uint head = gl_WorkGroupID.y;
    const uint lane = gl_LocalInvocationID.x;
    const int rowTexels = int(pc.H) / 4;
    const int headTexel = int(head) * D4;
    uint query[QUERIES];
    vec4 q[QUERIES][D4], acc[QUERIES][D4];
    float m[QUERIES], sum[QUERIES];
    [[unroll]] for (int i = 0; i < QUERIES; ++i) {
        query[i] = gl_WorkGroupID.x * uint(LANES * QUERIES) + uint(LANES * i) + lane;
        const int row = int(min(query[i], pc.S - 1u)) * rowTexels + headTexel;
        [[unroll]] for (int t = 0; t < D4; ++t) { q[i][t] = texelFetch(Q, row + t); acc[i][t] = vec4(0.0); }
        m[i] = lowest;
        sum[i] = 0.0;
    }
    for (uint j0 = 0; j0 < pc.S; j0 += uint(KEYS)) {
#if KEY_SHUFFLE
        const uint myKey = min(j0 + lane % uint(KEYS), pc.S - 1u);  // lane i fetches key j0 + i
#else
        const uint myKey = j0;                                      // every lane, the one key
#endif
        const int keyRow = int(myKey) * rowTexels + headTexel;
        const float myBias = mask[myKey];
        float s[QUERIES][KEYS];
        [[unroll]] for (int i = 0; i < QUERIES; ++i) [[unroll]] for (int b = 0; b < KEYS; ++b) s[i][b] = 0.0;
        [[unroll]] for (int t = 0; t < D4; ++t) {
            const vec4 mine = texelFetch(K, keyRow + t);
            [[unroll]] for (int b = 0; b < KEYS; ++b) {
                const vec4 k = blockTexel(mine, b);
                [[unroll]] for (int i = 0; i < QUERIES; ++i) s[i][b] += dot(q[i][t], k);
            }
        }
        bool real[KEYS];
        [[unroll]] for (int b = 0; b < KEYS; ++b) {
            real[b] = j0 + uint(b) < pc.S;
#if KEY_SHUFFLE
            const float bias = subgroupShuffle(myBias, uint(b));
#else
            const float bias = myBias;
#endif
            [[unroll]] for (int i = 0; i < QUERIES; ++i) s[i][b] = real[b] ? s[i][b] * pc.scale + bias : lowest;
        }
        [[unroll]] for (int i = 0; i < QUERIES; ++i) {
            float mNew = m[i];
            [[unroll]] for (int b = 0; b < KEYS; ++b) mNew = max(mNew, s[i][b]);
            const float rescale = exp(m[i] - mNew);
            m[i] = mNew;
            float blockSum = 0.0;
            [[unroll]] for (int b = 0; b < KEYS; ++b) { s[i][b] = real[b] ? exp(s[i][b] - mNew) : 0.0; blockSum += s[i][b]; }
            sum[i] = sum[i] * rescale + blockSum;
            [[unroll]] for (int t = 0; t < D4; ++t) acc[i][t] *= rescale;
        }
        [[unroll]] for (int t = 0; t < D4; ++t) {
            const vec4 mine = texelFetch(V, keyRow + t);
            [[unroll]] for (int b = 0; b < KEYS; ++b) {
                const vec4 v = blockTexel(mine, b);
                [[unroll]] for (int i = 0; i < QUERIES; ++i) acc[i][t] += s[i][b] * v;
            }
        }
    }
    [[unroll]] for (int i = 0; i < QUERIES; ++i) {
        if (query[i] >= pc.S) continue;
        const uint out0 = (query[i] * pc.H + head * uint(HEAD_DIM)) / 4u;
        [[unroll]] for (int t = 0; t < D4; ++t) ctx4[out0 + uint(t)] = acc[i][t] / sum[i];
    }
}
