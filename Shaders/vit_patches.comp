#version 450
// ViT patch extraction (im2col) for the patch-embedding GEMM: patch p = gy·G + gx (row-major
// over the grid), element e = c·P² + ky·P + kx — the order of Conv2d's weight [out, c, kh, kw]
// flattened, so the GEMM against weight.reshape(H, C·P²) is the convolution.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Pixels { float pixels[]; };  // [C][IMG][IMG]
layout(std430, binding = 1) writeonly buffer Patches { float patches[]; };  // [G²][C·P²]
layout(push_constant) uniform Push { uint C; uint IMG; uint P; } pc;

void main() {
    const uint G = pc.IMG / pc.P;
    const uint vector = pc.C * pc.P * pc.P;
    const uint i = gl_GlobalInvocationID.x;
    if (i >= G * G * vector) return;
    const uint p = i / vector, e = i % vector;
    const uint c = e / (pc.P * pc.P), ky = (e / pc.P) % pc.P, kx = e % pc.P;
    const uint gy = p / G, gx = p % G;
    patches[i] = pixels[(c * pc.IMG + gy * pc.P + ky) * pc.IMG + gx * pc.P + kx];
}
