#version 450
// A deliberately slow but always-finite kernel: each invocation runs `iterations` steps of a
// dependent recurrence. Tests use it to make a fence wait outlast its deadline. The loop is
// bounded by a push constant, so the dispatch always completes (never hang a shared GPU).
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer Out { float outv[]; };
layout(push_constant) uniform Push { uint iterations; } pc;
void main() {
    float x = float(gl_GlobalInvocationID.x);
    for (uint i = 0; i < pc.iterations; ++i) x = fract(x * 1.000173 + 0.618034);
    outv[gl_GlobalInvocationID.x] = x;
}
