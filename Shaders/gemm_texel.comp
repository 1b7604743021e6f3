#version 450
#extension GL_EXT_control_flow_attributes : require
// C[M][N] = epilogue(A[M][K] · W[N][K]ᵀ + bias[N]) — the CPU-shaped GEMM for lavapipe.
//
// Why this shape (../shared/notes/vulkan-on-linux-swift.md): llvmpipe runs LANES invocations
// as one SIMD group (8 at 256 bits, 16 at 512: LavapipeVectorWidth), and gives a storage-buffer
// load its fast path only when the offset is built from constants; a texel fetch compiles to a
// call of a branch-free fetch function (one 16-byte load per lane, then a transpose). So A and
// W are read as RGBA32F texel buffers; all lanes of a workgroup fetch the same A texels, and
// each invocation owns ROWS rows × COLS columns: column j of invocation i is
// LANES·COLS·wg.x + i + LANES·j, so neighbouring lanes read neighbouring weight rows.
// Profiled (perf on the JIT code, 66×16 at 256 bits): Mesa 22.3 lowers dot/fma to mul + add,
// and the 1,056 accumulators live on the stack, so each dot is 4 mul + 4 add + a load, an add
// and an exec-masked store; the fetches took ~40% of the samples. Bigger tiles amortise the
// ROWS + COLS fetches of a k4 step over 4·ROWS·COLS multiply-adds (16×8 → 66×16 measured 1.45×);
// fetching A once per 8 rows and spreading it with subgroupShuffle did not help (the dot body
// bounds it); 512-bit SIMD did (1.3×). 66×24 is ~10% faster still but doubles lavapipe's cold
// JIT (12 → 27 s per variant). 66 rows: 128 → 2 row groups (3% idle), 197 → 3 (0.5% idle).
// K must be a multiple of 4. Rows/columns past M/N are clamped on
// load and masked on store. Accumulation runs sequentially in k (4 at a time), like a CPU loop.
//
// EPILOGUE: 0 none · 1 exact-erf GELU · 2 residual add (C += result) · 3 tanh
layout(local_size_x = LANES) in;
layout(binding = 0) uniform samplerBuffer A;
layout(binding = 1) uniform samplerBuffer W;
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) buffer C { float c[]; };
layout(push_constant) uniform Push { uint M; uint N; uint K; } pc;

void store(uint index, float v);  // gemm_epilogue.glsl, appended by ShaderLibrary (keeps line numbers)

const int ROWS = TILE_ROWS;  // set by GEMMFamily.texelTile
const int COLS = TILE_COLS;

void main() {
    const uint lane = gl_LocalInvocationID.x;
    const uint colBase = gl_WorkGroupID.x * (uint(LANES) * COLS) + lane;
    const uint rowBase = gl_WorkGroupID.y * ROWS;
    const int k4Count = int(pc.K >> 2);
    int wRow[COLS];
    [[unroll]] for (int j = 0; j < COLS; ++j) wRow[j] = int(min(colBase + uint(LANES) * uint(j), pc.N - 1u)) * k4Count;
    int aRow[ROWS];
    [[unroll]] for (int r = 0; r < ROWS; ++r) aRow[r] = int(min(rowBase + uint(r), pc.M - 1u)) * k4Count;
    float acc[ROWS * COLS];
    [[unroll]] for (int i = 0; i < ROWS * COLS; ++i) acc[i] = 0.0;

    for (int k = 0; k < k4Count; ++k) {
        vec4 b[COLS];
        [[unroll]] for (int j = 0; j < COLS; ++j) b[j] = texelFetch(W, wRow[j] + k);
        [[unroll]] for (int r = 0; r < ROWS; ++r) {
            const vec4 a = texelFetch(A, aRow[r] + k);
            [[unroll]] for (int j = 0; j < COLS; ++j) acc[r * COLS + j] += dot(a, b[j]);
        }
    }

    [[unroll]] for (int j = 0; j < COLS; ++j) {
        const uint n = colBase + uint(LANES) * uint(j);
        if (n >= pc.N) continue;
        const float bn = bias[n];
        [[unroll]] for (int r = 0; r < ROWS; ++r) {
            const uint m = rowBase + uint(r);
            if (m < pc.M) store(m * pc.N + n, acc[r * COLS + j] + bn);
        }
    }
}
