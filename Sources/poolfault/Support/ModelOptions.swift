import ArgumentParser
import Foundation
import Transformer

/// The model flags shared by `infer`, `bench forward` and `run`.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model: bert-base-uncased or vit-base-patch16-224 (default: bert-base-uncased, or what --weights/config.json says).")
    var model: String?

    @Option(help: "Directory with config.json + model.safetensors (Hugging Face names); default: seeded weights with the real shapes.")
    var weights: String?

    // `.unconditional`: "-1" is read as the value (and refused by validate), not as a flag.
    @Option(parsing: .unconditional, help: "Debug knob: run only the first N layers.")
    var layers: Int?

    @Option(parsing: .unconditional, help: "Debug knob: BERT sequence length (default 128).")
    var seqLen: Int?

    @Option(parsing: .unconditional, help: "Seed of the generated weights and input.")
    var seed: UInt64 = 42

    func validate() throws {
        if let layers, layers < 1 { throw ValidationError("--layers must be at least 1 (got \(layers))") }
        if let seqLen, seqLen < 1 { throw ValidationError("--seq-len must be at least 1 (got \(seqLen))") }
    }

    /// The model's kind (BERT or ViT) and its position limit, before anything heavy is read.
    func baseConfig() throws -> ModelConfig {
        if let weights { return try ModelConfig(huggingFaceConfigAt: URL(fileURLWithPath: weights).appendingPathComponent("config.json")) }
        return try ModelConfig.named(model ?? "bert-base-uncased")
    }

    /// The model config and its weights; `inputTokens` (an input file's length) sets the
    /// sequence length when `--seq-len` does not.
    func load(inputTokens: Int? = nil) throws -> (ModelConfig, WeightStore) {
        let seqLen = self.seqLen ?? inputTokens
        if let weights {
            let store = try WeightStore.load(directory: URL(fileURLWithPath: weights))
            if let model, model != store.config.name, (try? ModelConfig.named(model))?.kind != store.config.kind {
                throw ValidationError("--model \(model) does not match \(weights)/config.json (\(store.config.kind.rawValue))")
            }
            let config = try store.config.reduced(layers: layers, seqLen: seqLen)
            return (config, config == store.config ? store : try store.restricted(to: config))
        }
        let config = try ModelConfig.named(model ?? "bert-base-uncased").reduced(layers: layers, seqLen: seqLen)
        return (config, try WeightStore.seeded(config: config, seed: seed))
    }
}
