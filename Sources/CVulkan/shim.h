// The Vulkan headers (Debian: libvulkan-dev), without prototypes: poolfault does not link
// libvulkan. VulkanCompute's VulkanLoader dlopen()s libvulkan.so.1 at run time and loads every
// entry point through vkGetInstanceProcAddr / vkGetDeviceProcAddr, so a machine without the
// loader gets a clear message naming the package to install instead of a dynamic-linker error.
#define VK_NO_PROTOTYPES 1
#include <vulkan/vulkan.h>
#include <dlfcn.h>
