// The CPU forward's weights, looked up once by name when a CPUReference is made, so the
// hot path does no string building or dictionary lookups and a missing tensor fails early.

struct LinearWeights: Sendable {
    let weight: WeightTensor
    let bias: WeightTensor
    let outFeatures: Int
    let inFeatures: Int

    init(_ store: WeightStore, _ prefix: String, out: Int, in inputs: Int) throws {
        weight = try store.tensor("\(prefix).weight")
        bias = try store.tensor("\(prefix).bias")
        outFeatures = out
        inFeatures = inputs
    }

    /// y[rows, out] = x[rows, in] · Wᵀ + b (with `accumulate`, y += …). The store keeps the
    /// tensors (and so the pointers) alive for the CPUReference's lifetime.
    func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, ldy: Int? = nil,
               accumulate: Bool = false) {
        CPUKernels.linear(x, rows: rows, inFeatures: inFeatures, weight: weight.storage.pointer,
                          bias: bias.storage.pointer, outFeatures: outFeatures, into: y, ldy: ldy, accumulate: accumulate)
    }
}

struct NormWeights: Sendable {
    let gamma: WeightTensor
    let beta: WeightTensor

    init(_ store: WeightStore, _ prefix: String) throws {
        gamma = try store.tensor("\(prefix).weight")
        beta = try store.tensor("\(prefix).bias")
    }

    func apply(_ x: UnsafePointer<Float>, rows: Int, cols: Int, eps: Float, into y: UnsafeMutablePointer<Float>) {
        CPUKernels.layerNorm(x, rows: rows, cols: cols, gamma: gamma.storage.pointer, beta: beta.storage.pointer,
                             eps: eps, into: y)
    }
}

/// Self-attention of one layer. `norm` is BERT's attention.output.LayerNorm (post-LN) or
/// ViT's layernorm_before (pre-LN).
struct AttentionWeights: Sendable {
    let query: LinearWeights
    let key: LinearWeights
    let value: LinearWeights
    let output: LinearWeights
    let norm: NormWeights
}

/// Feed-forward of one layer. `norm` is BERT's output.LayerNorm or ViT's layernorm_after.
struct FeedForwardWeights: Sendable {
    let intermediate: LinearWeights
    let output: LinearWeights
    let norm: NormWeights
}

enum EmbeddingWeights: Sendable {
    case bert(word: WeightTensor, position: WeightTensor, tokenType: WeightTensor, norm: NormWeights)
    case vit(cls: WeightTensor, position: WeightTensor, projection: LinearWeights)
}

struct PoolerWeights: Sendable {
    /// ViT's final `layernorm`; nil for BERT.
    let finalNorm: NormWeights?
    /// `pooler.dense`; nil when the model has no pooler.
    let dense: LinearWeights?
}

/// All of a model's weights, resolved.
struct ResolvedWeights: Sendable {
    let embeddings: EmbeddingWeights
    let attention: [AttentionWeights]
    let feedForward: [FeedForwardWeights]
    let pooler: PoolerWeights

    init(_ store: WeightStore) throws {
        let config = store.config
        let h = config.hiddenSize, i = config.intermediateSize
        switch config.kind {
        case .bert:
            embeddings = .bert(
                word: try store.tensor("embeddings.word_embeddings.weight"),
                position: try store.tensor("embeddings.position_embeddings.weight"),
                tokenType: try store.tensor("embeddings.token_type_embeddings.weight"),
                norm: try NormWeights(store, "embeddings.LayerNorm"))
            attention = try (0..<config.numLayers).map { n in
                let p = "encoder.layer.\(n).attention"
                return AttentionWeights(
                    query: try LinearWeights(store, "\(p).self.query", out: h, in: h),
                    key: try LinearWeights(store, "\(p).self.key", out: h, in: h),
                    value: try LinearWeights(store, "\(p).self.value", out: h, in: h),
                    output: try LinearWeights(store, "\(p).output.dense", out: h, in: h),
                    norm: try NormWeights(store, "\(p).output.LayerNorm"))
            }
            feedForward = try (0..<config.numLayers).map { n in
                let p = "encoder.layer.\(n)"
                return FeedForwardWeights(
                    intermediate: try LinearWeights(store, "\(p).intermediate.dense", out: i, in: h),
                    output: try LinearWeights(store, "\(p).output.dense", out: h, in: i),
                    norm: try NormWeights(store, "\(p).output.LayerNorm"))
            }
            pooler = PoolerWeights(
                finalNorm: nil,
                dense: config.hasPooler ? try LinearWeights(store, "pooler.dense", out: h, in: h) : nil)
        case .vit:
            embeddings = .vit(
                cls: try store.tensor("embeddings.cls_token"),
                position: try store.tensor("embeddings.position_embeddings"),
                // The Conv2d weight [H, C, p, p] read as [H, C·p·p]: rows in (c, ky, kx) order.
                projection: try LinearWeights(store, "embeddings.patch_embeddings.projection",
                                              out: h, in: config.patchVectorSize))
            attention = try (0..<config.numLayers).map { n in
                let p = "encoder.layer.\(n)"
                return AttentionWeights(
                    query: try LinearWeights(store, "\(p).attention.attention.query", out: h, in: h),
                    key: try LinearWeights(store, "\(p).attention.attention.key", out: h, in: h),
                    value: try LinearWeights(store, "\(p).attention.attention.value", out: h, in: h),
                    output: try LinearWeights(store, "\(p).attention.output.dense", out: h, in: h),
                    norm: try NormWeights(store, "\(p).layernorm_before"))
            }
            feedForward = try (0..<config.numLayers).map { n in
                let p = "encoder.layer.\(n)"
                return FeedForwardWeights(
                    intermediate: try LinearWeights(store, "\(p).intermediate.dense", out: i, in: h),
                    output: try LinearWeights(store, "\(p).output.dense", out: h, in: i),
                    norm: try NormWeights(store, "\(p).layernorm_after"))
            }
            pooler = PoolerWeights(
                finalNorm: try NormWeights(store, "layernorm"),
                dense: config.hasPooler ? try LinearWeights(store, "pooler.dense", out: h, in: h) : nil)
        }
        // Every tensor's element count must match what the kernels will read.
        for spec in config.parameters {
            let tensor = try store.tensor(spec.name)
            guard tensor.count == spec.count else {
                throw ModelDataError.shapeMismatch(path: store.source.description, name: spec.name,
                                                   expected: spec.shape, found: tensor.shape)
            }
        }
    }
}
