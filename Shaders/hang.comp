#version 450
// gpu_hang: a dispatch that does not finish on its own. Every invocation spins until the host
// sets `release`, bounded by `cap` iterations so a GPU is never hung forever (llvmpipe also
// ends any invocation's loops after 65,535 back-edges, silently: the length comes from the
// workgroup count, e.g. 65,535 groups × 64 invocations ≈ hours on lavapipe). A watchdog, not
// this kernel, decides when the context is hung; recovery kills the process that owns it.
layout(local_size_x = 64) in;
layout(std430, binding = 0) coherent buffer Flag { uint release; uint sink[]; };
layout(push_constant) uniform Push { uint cap; } pc;
void main() {
    uint spins = 0u;
    while (atomicAdd(release, 0u) == 0u && spins < pc.cap) spins++;
    // Never true in practice; keeps the loop from being optimised away.
    if (spins == 0xFFFFFFFFu) sink[gl_LocalInvocationIndex] = spins;
}
