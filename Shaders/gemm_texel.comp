#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_shuffle : require
// C[M][N] = epilogue(A[M][K] · W[N][K]ᵀ + bias[N]) — the CPU-shaped GEMM for lavapipe. W's rows are
// K + 4 floats apart (GEMMFamily.weightPitch: padding keeps them out of each other's cache sets).
//
// Why this shape (measured on llvmpipe; README, "Speed on lavapipe"): llvmpipe runs LANES invocations
// as one SIMD group (8 at 256 bits, 16 at 512: LavapipeVectorWidth), and gives a storage-buffer
// load its fast path only when the offset is built from constants; a texel fetch compiles to a
// call of a branch-free fetch function (one 16-byte load per lane, then a transpose). So A and
// W are read as RGBA32F texel buffers, and each invocation owns ROWS rows × COLS columns, in
// runs of 4 neighbouring columns: column j of invocation i is LANES·COLS·wg.x + 4·i + j % 4 +
// 4·LANES·(j / 4), so each row's 4 columns leave in one vec4 store (a storage-buffer store is a
// loop over the lanes in llvmpipe, one loop per store instruction: 132 loops where 528 float
// stores were 528); every lane needs the same A rows, so lane i fetches row g·LANES + i and
// subgroupShuffle hands each row to all lanes (a broadcast once compiled).
// What the profile (perf on the JIT code) showed, and what each step gained: Mesa 22.3 lowers
// dot/fma to mul + add and keeps the ROWS·COLS accumulators on the stack, so each dot is
// 4 mul + 4 add + a load, an add and an exec-masked store. Bigger tiles amortise the fetches of
// a step (16×8 → 66×16: 1.45×); 512-bit SIMD: 1.3×; two k4 texels per loop step, so the
// accumulator traffic is paid once per 8 k (below): 1.2×; padded W rows: 1.1–1.25×; with the
// fetches then half the samples, A by shuffle (66 → 6 A fetches per step at 33×16): 1.1×
// (it gained nothing before, when the dot body bounded the kernel); the store as vec4s
// (below): 528 per-lane loops → 132, ~1 s less cold JIT.
// Why not bigger than 50 rows × 16 columns: lavapipe's JIT time grows faster than the tile
// (66×16 took 14 s to compile cold when 33×16 took 6 s, before the vec4 store), and every
// context start and recovery on a cold cache pays it. The rows follow the sequence
// (GEMMFamily.texelRows: 32 for 128 tokens, 50 for 197).
// K and N must be multiples of 4 (GPUKernels.gemm checks); an odd count of K texels ends with a
// step whose second W texel is the row's padding, zeroed by GPUKernels.weightBuffer. Rows and
// columns past M/N are clamped on load and masked on store. Needs subgroup shuffle (lavapipe
// has it) and TILE_COLS a multiple of 4.
//
// EPILOGUE: 0 none · 1 exact-erf GELU · 2 residual add (C += result) · 3 tanh
layout(local_size_x = LANES) in;
layout(binding = 0) uniform samplerBuffer A;
layout(binding = 1) uniform samplerBuffer W;
layout(std430, binding = 2) readonly buffer Bias { vec4 bias4[]; };
layout(std430, binding = 3) buffer C { vec4 c4[]; };
layout(push_constant) uniform Push { uint M; uint N; uint K; } pc;

#define VALUE_EPILOGUE_ONLY 1
float epilogue(float v, float old);  // gemm_epilogue.glsl, appended by ShaderLibrary (keeps line numbers)

const int ROWS = TILE_ROWS;  // set by GEMMFamily.texelTile
const int COLS = TILE_COLS;

// Column j of an invocation, from its first: runs of 4, the runs LANES · 4 apart.
uint column(int j) { return uint(j % 4) + uint(4 * LANES) * uint(j / 4); }

void main() {
    const uint lane = gl_LocalInvocationID.x;
    const uint colBase = gl_WorkGroupID.x * (uint(LANES) * COLS) + 4u * lane;  // column j: colBase + column(j)
    const uint rowBase = gl_WorkGroupID.y * ROWS;
    const int k4Count = int(pc.K >> 2);
    int wRow[COLS];
    const int wPitch = k4Count + 1;  // W rows are padded by one texel (GEMMFamily.weightPitch)
    // W's rows are stored in fetch order (GEMMFamily.weightRowOrder): the j-th fetch of lane i
    // reads row LANES·COLS·wg.x + LANES·j + i, which holds column colBase + column(j); rows past N
    // are zero.
    [[unroll]] for (int j = 0; j < COLS; ++j) wRow[j] = int(gl_WorkGroupID.x * uint(LANES * COLS) + uint(LANES * j) + lane) * wPitch;
    // Lane i fetches A row g·LANES + i of the tile; subgroupShuffle hands row r to every lane.
    const int AG = (ROWS + LANES - 1) / LANES;
    int aRow[AG];
    [[unroll]] for (int g = 0; g < AG; ++g) aRow[g] = int(min(rowBase + uint(g * LANES) + lane, pc.M - 1u)) * k4Count;
    float acc[ROWS * COLS];
    [[unroll]] for (int i = 0; i < ROWS * COLS; ++i) acc[i] = 0.0;

    for (int k = 0; k < k4Count; k += 2) {
        // The step's second texel. On an odd last step W's is its row's zeroed padding texel and
        // A's repeats the first: no branch in the loop (a conditional fetch here cost ~1 s of
        // cold JIT, the loop's values becoming masked stack slots).
        const int k1 = min(k + 1, k4Count - 1);
        vec4 b0[COLS], b1[COLS];
        [[unroll]] for (int j = 0; j < COLS; ++j) {
            b0[j] = texelFetch(W, wRow[j] + k);
            b1[j] = texelFetch(W, wRow[j] + k + 1);
        }
        vec4 ag0[AG], ag1[AG];
        [[unroll]] for (int g = 0; g < AG; ++g) { ag0[g] = texelFetch(A, aRow[g] + k); ag1[g] = texelFetch(A, aRow[g] + k1); }
        [[unroll]] for (int r = 0; r < ROWS; ++r) {
            const vec4 a0 = subgroupShuffle(ag0[r / LANES], uint(r % LANES)), a1 = subgroupShuffle(ag1[r / LANES], uint(r % LANES));
            [[unroll]] for (int j = 0; j < COLS; ++j) acc[r * COLS + j] += dot(a0, b0[j]) + dot(a1, b1[j]);
        }
    }

    [[unroll]] for (int g = 0; g < COLS / 4; ++g) {
        const uint n = colBase + column(4 * g);  // N % 4 == 0: n < N puts all four inside
        if (n >= pc.N) continue;
        const vec4 b = bias4[n / 4u];
        [[unroll]] for (int r = 0; r < ROWS; ++r) {
            const uint m = rowBase + uint(r);
            if (m >= pc.M) continue;
            const uint at = (m * pc.N + n) / 4u;
            const int j = r * COLS + 4 * g;
#if EPILOGUE == 2
            const vec4 old = c4[at];
#else
            const vec4 old = vec4(0.0);
#endif
            c4[at] = vec4(epilogue(acc[j] + b.x, old.x), epilogue(acc[j + 1] + b.y, old.y),
                          epilogue(acc[j + 2] + b.z, old.z), epilogue(acc[j + 3] + b.w, old.w));
        }
    }
}
