#version 450
// c[i] = epilogue(src[i]), elementwise: EPILOGUE 1 = exact-erf GELU, 2 = residual add
// (c += src), 3 = tanh — the GEMM epilogues, for the GEMM family that does not fuse them.
// Why a separate pass: the texel GEMM's register tile unrolls its store ROWS × COLS times
// (528 at 33×16); with an epilogue inside, lavapipe's first-dispatch JIT of that kernel took
// 20–30 s cold (at 66×16), and every fused epilogue would be one more such variant to compile.
// Same numbers as a fused epilogue (fp32 store, reload).
// For GELU and tanh, c and src are the same buffer.
//
// Four elements per invocation, read as one texel and written as one vec4: lavapipe stores to
// (and loads from) a storage buffer lane by lane in a loop, one loop per store instruction, so a
// vec4 store is one loop where four float stores were four (ViT-B/16 per forward: GELU 11.5 →
// 8 ms, the two residual passes 7.2 → 5.2 ms). The texel GEMM's N is a multiple of 4, so
// `count` is too (GPUKernels.gemm).
#define VALUE_EPILOGUE_ONLY 1
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer C { vec4 c4[]; };
layout(binding = 1) uniform samplerBuffer Src;  // RGBA32F view of the product
layout(push_constant) uniform Push { uint count; } pc;

float epilogue(float v, float old);  // gemm_epilogue.glsl, appended by ShaderLibrary

void main() {
    const uint t = gl_GlobalInvocationID.x;
    if (4u * t >= pc.count) return;
    const vec4 v = texelFetch(Src, int(t));
#if EPILOGUE == 2
    const vec4 old = c4[t];
#else
    const vec4 old = vec4(0.0);
#endif
    c4[t] = vec4(epilogue(v.x, old.x), epilogue(v.y, old.y), epilogue(v.z, old.z), epilogue(v.w, old.w));
}
