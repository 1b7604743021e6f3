// VulkanCompute — compute-only Vulkan for poolfault. It knows nothing of models or faults.
//
// The contract:
// - Nouns: `VulkanInstance` (loader, validation, physical devices) → `ComputeDevice` (one
//   logical device) → `Channel` (a queue with its command pool and fence: what a fault
//   "loses" when a connection drops) · `DeviceBuffer` · `Kernel` (a compute pipeline compiled
//   by `ShaderCompiler`) · `CommandBatch` (recorded dispatches, submitted on a channel).
// - Every wait has a deadline. A wait that outlasts it throws `VulkanError.timeout`; nothing
//   in this module blocks without one (see `Deadline`).
// - Teardown is data, not a crash: after `ComputeDevice.destroy()` every object of that device
//   throws `.deviceLost`; after `Channel.drop()` every submit on it (and every batch recorded
//   on it) throws `.queueLost` until `Channel.reconnect()`. Buffers and kernels survive a
//   dropped channel. Mesa's vk_queue.c records loss the same way: once, with where and why.
// - Errors say which stage failed and carry the VkResult (`VulkanError`).
// - Thread safety: each `ComputeDevice` serialises every Vulkan call on it with one lock
//   (Vulkan requires external synchronisation of queues and pools), so its objects are
//   `@unchecked Sendable` for a reason, not by hope.
// - Validation: `VulkanInstance(validation: true)` enables VK_LAYER_KHRONOS_validation and
//   records every message in a `ValidationLog`, so tests can fail on any.
// - libvulkan is loaded with dlopen (`VulkanLoader`), never linked.
