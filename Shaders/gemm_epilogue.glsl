// Shared by the GEMM kernels and the elementwise pass: the epilogue of one value, and the store
// with it. ShaderLibrary appends this file to each of those sources (after the kernel, which
// forward-declares what it uses, so the kernel's line numbers in compile errors stay true).
// Needs the define EPILOGUE; `store` also needs buffer `c` (a kernel that stores otherwise
// defines VALUE_EPILOGUE_ONLY).

// erf by Abramowitz–Stegun 7.1.26 (|error| ≤ 1.5e-7): GLSL has no erf, and Hugging Face's
// "gelu" is the exact erf form (the tanh approximation is off by ~1e-3 at the output).
float erf_as(float x) {
    const float t = 1.0 / (1.0 + 0.3275911 * abs(x));
    const float poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    const float y = 1.0 - poly * exp(-x * x);
    return x < 0.0 ? -y : y;
}

// The value stored for result v where C held `old` (read only by the residual epilogue).
float epilogue(float v, float old) {
#if EPILOGUE == 1
    return 0.5 * v * (1.0 + erf_as(v * 0.70710678118654752));
#elif EPILOGUE == 2
    return old + v;
#elif EPILOGUE == 3
    return tanh(clamp(v, -15.0, 15.0));  // tanh(±15) is ±1 in fp32; avoids exp overflow
#else
    return v;
#endif
}

#ifndef VALUE_EPILOGUE_ONLY
void store(uint index, float v) {
#if EPILOGUE == 2
    c[index] = epilogue(v, c[index]);
#else
    c[index] = epilogue(v, 0.0);
#endif
}
#endif
