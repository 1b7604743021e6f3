#version 450
// c[i] = epilogue(src[i]), elementwise: EPILOGUE 1 = exact-erf GELU, 2 = residual add
// (c += src), 3 = tanh — the GEMM epilogues, for the GEMM family that does not fuse them.
// Why a separate pass: the texel GEMM's register tile unrolls its store ROWS × COLS times
// (528 at 33×16); with an epilogue inside, lavapipe's first-dispatch JIT of that kernel took
// 20–30 s cold (at 66×16), and every fused epilogue would be one more such variant to compile.
// This pass costs about half a millisecond (BERT's 128×3072 GELU) and gives bit-identical
// results (fp32 store, reload).
// For GELU and tanh, c and src are the same buffer.
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer C { float c[]; };
layout(binding = 1) uniform samplerBuffer Src;  // RGBA32F view: 4 elements per invocation, one fetch
layout(std430, binding = 2) readonly buffer SrcTail { float srcTail[]; };  // the same buffer, for a last partial texel
layout(push_constant) uniform Push { uint count; } pc;

void store(uint index, float v);  // gemm_epilogue.glsl, appended by ShaderLibrary

void main() {
    const uint base = 4u * gl_GlobalInvocationID.x;
    if (base >= pc.count) return;
    if (base + 4u <= pc.count) {
        // A texel fetch instead of per-lane storage-buffer loads: 1.7× faster on lavapipe.
        const vec4 v = texelFetch(Src, int(gl_GlobalInvocationID.x));
        store(base, v.x);
        store(base + 1u, v.y);
        store(base + 2u, v.z);
        store(base + 3u, v.w);
    } else {
        for (uint i = base; i < pc.count; ++i) store(i, srcTail[i]);
    }
}
