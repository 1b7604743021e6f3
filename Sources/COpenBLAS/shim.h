// OpenBLAS's CBLAS interface (Debian: libopenblas-dev); the include folder comes from
// pkg-config's openblas.pc.
#include <cblas.h>
