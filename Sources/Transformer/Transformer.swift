// Transformer: the model side of poolfault: Swift, oneDNN (the Linear layers), vectorised C
// (attention, LayerNorm, GELU) and OpenBLAS (the fallbacks). No Vulkan, no pool logic.
//
// Contract
// --------
// What it does
// - `ModelConfig` describes bert-base-uncased / vit-base-patch16-224 (or any HF BERT/ViT
//   config.json with exact-erf GELU), with debug knobs (`reduced(layers:seqLen:)`).
// - `ModelComponent` splits a model into units that can live on different contexts:
//   embeddings, per-layer attention, per-layer feed-forward, pooler. Each names the Hugging
//   Face bare-model parameters it owns, so a component can be uploaded or reloaded alone.
// - `ShardPlan` groups contiguous components into shards (types "layer",
//   "attention_feedforward", "component").
// - `WeightStore` holds fp32 weights under canonical HF bare-model names: seeded
//   (deterministic, real shapes) or loaded from `config.json` + `model.safetensors`
//   (memory-mapped; F32 used in place when aligned; F16/BF16/F64 converted).
// - `ModelInput` (token ids + mask, or NCHW pixels), seeded or parsed from HF-style JSON.
// - `CPUReference` is the numerical oracle and the "WebNN" backend: runs one component on an
//   `ActivationState` (plain arrays, so it can cross devices), or the whole forward.
// - `Numerics` holds small scalar helpers and the output comparison (max abs, relative L2)
//   that GPU tests compare with.
//
// Errors (every path user input can reach throws; nothing traps)
// - `ModelDataError`: bad model or input data (config.json, safetensors, input JSON, shapes).
//   The CLI maps it to exit 65, except `.unreadable` (the file exists but cannot be read)
//   and `.unwritable` (an export failed): exit 2. `ModelDataError.isIOFailure` tells them apart.
// - `ModelUsageError`: a request that does not fit the model (unknown model name, layer or
//   sequence knobs out of range, impossible shard count, an activation state that does not
//   match the component). Comes from flags, so the CLI maps it to exit 64.
//
// Threading
// - Value types are Sendable. `WeightStore` is immutable after creation and safe to share.
//   `CPUReference` keeps no mutable state: each `forward` / `run` call uses its own scratch,
//   so concurrent calls are safe (they share oneDNN's primitives, which are immutable, and
//   contend for the cores, nothing else: each call brings its own oneDNN scratchpad).
// - Host byte order is assumed little-endian (as safetensors is): x86_64 and arm64.

/// The version of the numerics contract: bump when the CPU forward's results change.
public let transformerNumericsVersion = 1
