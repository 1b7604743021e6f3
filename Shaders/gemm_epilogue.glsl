// Shared by the GEMM kernels: the store with its epilogue. ShaderLibrary appends it to each
// GEMM source (after the kernel, which forward-declares `store`, so the kernel's line numbers
// in compile errors stay true). Needs buffer `c` and the define EPILOGUE.

// erf by Abramowitz–Stegun 7.1.26 (|error| ≤ 1.5e-7): GLSL has no erf, and Hugging Face's
// "gelu" is the exact erf form (the tanh approximation is off by ~1e-3 at the output).
float erf_as(float x) {
    const float t = 1.0 / (1.0 + 0.3275911 * abs(x));
    const float poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    const float y = 1.0 - poly * exp(-x * x);
    return x < 0.0 ? -y : y;
}

void store(uint index, float v) {
#if EPILOGUE == 1
    c[index] = 0.5 * v * (1.0 + erf_as(v * 0.70710678118654752));
#elif EPILOGUE == 2
    c[index] = c[index] + v;
#elif EPILOGUE == 3
    c[index] = tanh(clamp(v, -15.0, 15.0));  // tanh(±15) is ±1 in fp32; avoids exp overflow
#else
    c[index] = v;
#endif
}
