// glslang's C API (Debian: glslang-dev + spirv-tools). stdbool.h must come first: the
// header uses bool without including it.
#include <stdbool.h>
#include <glslang/Include/glslang_c_interface.h>
#include <glslang/Public/resource_limits_c.h>
