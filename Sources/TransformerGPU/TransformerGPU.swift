// TransformerGPU — a model's components as Vulkan compute on one device.
//
// The contract:
// - `GPUKernels` holds every pipeline one device needs (GEMM with its epilogues, LayerNorm,
//   attention, embeddings), compiled from Shaders/ with per-device defines. Two GEMM families,
//   chosen by device type (`GEMMFamily`): texel-buffer register tiles for lavapipe, shared-memory
//   tiles for hardware GPUs.
// - `GPUModelContext` is a model's presence on one device and channel: the weights of the
//   components it holds (`ComponentWeights`, uploaded once, never per request), activation
//   buffers sized for the model (`ActivationBuffers`), and a recorded batch per shard.
//   `run(components, state:)` uploads the state, runs the shard, reads the hidden state back:
//   within a shard activations stay on the device; between shards they cross the host.
// - Numerics follow docs/numerics.md exactly (erf GELU, eps 1e-12, additive
//   mask, HF weight layout) and are checked against the CPU reference (`Transformer`).
// - Failures are VulkanCompute's typed errors: a dropped channel or destroyed device surfaces as
//   `.queueLost` / `.deviceLost`; a component whose weights were unloaded as `.componentMissing`.
