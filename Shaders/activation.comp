#version 450
// c[i] = epilogue(src[i]), elementwise: EPILOGUE 1 = exact-erf GELU, 2 = residual add
// (c += src), 3 = tanh — the GEMM epilogues, for the GEMM family that does not fuse them.
// Why a separate pass: the texel GEMM's register tile unrolls its store ROWS × COLS times
// (528 at 33×16); with an epilogue inside, lavapipe's first-dispatch JIT of that kernel took
// 20–30 s cold (at 66×16), and every fused epilogue would be one more such variant to compile.
// This pass costs about a millisecond and gives bit-identical results (fp32 store, reload).
// For GELU and tanh, c and src are the same buffer.
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer C { float c[]; };
layout(std430, binding = 1) readonly buffer Src { float src[]; };
layout(push_constant) uniform Push { uint count; } pc;

void store(uint index, float v);  // gemm_epilogue.glsl, appended by ShaderLibrary

void main() {
    const uint i = gl_GlobalInvocationID.x;
    if (i < pc.count) store(i, src[i]);
}
