#version 450
// C[M][N] = epilogue(A[M][K] · W[N][K]ᵀ + bias[N]) — the GPU-shaped GEMM (NVIDIA, AMD, Intel).
//
// Classic shared-memory tiling: a 256-invocation workgroup computes a 64×64 tile of C, each
// invocation a 4×4 register block; K advances 16 at a time through shared tiles of A and W.
// Any M, N, K (ragged edges are zero-filled on load and masked on store). On lavapipe this is
// the slow path (2–5 GFLOP/s: shared memory becomes per-lane loops), so it is chosen only for
// hardware GPUs.
//
// EPILOGUE: 0 none · 1 exact-erf GELU · 2 residual add (C += result) · 3 tanh
layout(local_size_x = 16, local_size_y = 16) in;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) buffer C { float c[]; };
layout(push_constant) uniform Push { uint M; uint N; uint K; } pc;

void store(uint index, float v);  // gemm_epilogue.glsl, appended by ShaderLibrary (keeps line numbers)

const uint TILE = 64;
const uint TK = 16;
shared float tileA[TK][TILE + 1];
shared float tileW[TK][TILE + 1];

void main() {
    const uint tx = gl_LocalInvocationID.x;  // column block
    const uint ty = gl_LocalInvocationID.y;  // row block
    const uint tid = ty * 16 + tx;
    const uint rowTile = gl_WorkGroupID.y * TILE;
    const uint colTile = gl_WorkGroupID.x * TILE;
    float acc[4][4];
    for (int i = 0; i < 4; ++i) for (int j = 0; j < 4; ++j) acc[i][j] = 0.0;

    for (uint k0 = 0; k0 < pc.K; k0 += TK) {
        // 64×16 elements of A and of W: 4 each per invocation, coalesced along k.
        for (uint e = tid; e < TILE * TK; e += 256) {
            const uint r = e / TK, kk = e % TK;
            const uint m = rowTile + r, n = colTile + r, k = k0 + kk;
            tileA[kk][r] = (m < pc.M && k < pc.K) ? a[m * pc.K + k] : 0.0;
            tileW[kk][r] = (n < pc.N && k < pc.K) ? w[n * pc.K + k] : 0.0;
        }
        barrier();
        for (uint kk = 0; kk < TK; ++kk) {
            float av[4], wv[4];
            for (int i = 0; i < 4; ++i) av[i] = tileA[kk][ty * 4 + i];
            for (int j = 0; j < 4; ++j) wv[j] = tileW[kk][tx * 4 + j];
            for (int i = 0; i < 4; ++i) for (int j = 0; j < 4; ++j) acc[i][j] = fma(av[i], wv[j], acc[i][j]);
        }
        barrier();
    }
    for (int i = 0; i < 4; ++i) {
        const uint m = rowTile + ty * 4 + i;
        if (m >= pc.M) continue;
        for (int j = 0; j < 4; ++j) {
            const uint n = colTile + tx * 4 + j;
            if (n < pc.N) store(m * pc.N + n, acc[i][j] + bias[n]);
        }
    }
}
