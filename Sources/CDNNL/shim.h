// oneDNN's C API (Debian: libdnnl-dev), for the CPU forward's Linear layers.
#include <oneapi/dnnl/dnnl.h>

// Debian builds oneDNN on OpenMP (libgomp), which libdnnl loads. Declared weak so this module
// links without naming libgomp: it is there whenever libdnnl is.
extern int omp_get_max_threads(void) __attribute__((weak));

/// The threads a oneDNN primitive runs on (OpenMP's pool: OMP_NUM_THREADS, or every core).
static inline int pf_dnnl_threads(void) {
    return omp_get_max_threads ? omp_get_max_threads() : 1;
}
