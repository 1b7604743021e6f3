// ModelConfig: the shapes of one BERT or ViT model, plus the sequence length we run.

/// Shapes and hyper-parameters of a BERT (post-LN encoder) or ViT (pre-LN encoder) model.
/// Fields that do not apply to a kind are 0 (BERT's vocab for ViT, ViT's image for BERT).
public struct ModelConfig: Sendable, Codable, Hashable {
    public enum Kind: String, Sendable, Codable, Hashable, CaseIterable {
        case bert
        case vit
    }

    public var kind: Kind
    public var name: String
    public var hiddenSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var intermediateSize: Int
    /// Inside the sqrt: (x-mean)/sqrt(var+eps). 1e-12 for the HF BERT and ViT configs.
    public var layerNormEps: Float

    // BERT
    public var vocabSize: Int
    public var maxPositionEmbeddings: Int
    public var typeVocabSize: Int
    /// The sequence length we run (inputs are padded to it with mask 0).
    public var seqLen: Int

    // ViT
    public var imageSize: Int
    public var patchSize: Int
    public var numChannels: Int

    /// Whether the model has `pooler.dense` (BertModel and ViTModel do; the hub's
    /// ViTForImageClassification does not). ViT's final `layernorm` exists either way.
    public var hasPooler: Bool

    /// Tokens per sequence: BERT's `seqLen`, ViT's patches + CLS.
    public var sequenceLength: Int {
        switch kind {
        case .bert: return seqLen
        case .vit: return patchesPerSide * patchesPerSide + 1
        }
    }

    public var headDim: Int { numHeads > 0 ? hiddenSize / numHeads : 0 }
    /// ViT: patches along one side of the image (224/16 = 14).
    public var patchesPerSide: Int { patchSize > 0 ? imageSize / patchSize : 0 }
    /// ViT: floats in one NCHW image (3·224·224).
    public var pixelCount: Int { numChannels * imageSize * imageSize }
    /// ViT: floats in one flattened patch, ordered (c, ky, kx).
    public var patchVectorSize: Int { numChannels * patchSize * patchSize }

    // MARK: - Construction

    /// A BERT config, validated.
    public static func bert(
        name: String, hiddenSize: Int, numLayers: Int, numHeads: Int, intermediateSize: Int,
        vocabSize: Int, maxPositionEmbeddings: Int, typeVocabSize: Int, seqLen: Int,
        layerNormEps: Float = 1e-12, hasPooler: Bool = true
    ) throws -> ModelConfig {
        let config = ModelConfig(
            kind: .bert, name: name, hiddenSize: hiddenSize, numLayers: numLayers,
            numHeads: numHeads, intermediateSize: intermediateSize, layerNormEps: layerNormEps,
            vocabSize: vocabSize, maxPositionEmbeddings: maxPositionEmbeddings,
            typeVocabSize: typeVocabSize, seqLen: seqLen,
            imageSize: 0, patchSize: 0, numChannels: 0, hasPooler: hasPooler)
        try config.validate()
        return config
    }

    /// A ViT config, validated.
    public static func vit(
        name: String, hiddenSize: Int, numLayers: Int, numHeads: Int, intermediateSize: Int,
        imageSize: Int, patchSize: Int, numChannels: Int,
        layerNormEps: Float = 1e-12, hasPooler: Bool = true
    ) throws -> ModelConfig {
        let config = ModelConfig(
            kind: .vit, name: name, hiddenSize: hiddenSize, numLayers: numLayers,
            numHeads: numHeads, intermediateSize: intermediateSize, layerNormEps: layerNormEps,
            vocabSize: 0, maxPositionEmbeddings: 0, typeVocabSize: 0, seqLen: 0,
            imageSize: imageSize, patchSize: patchSize, numChannels: numChannels,
            hasPooler: hasPooler)
        try config.validate()
        return config
    }

    /// bert-base-uncased as `BertModel` (with pooler), run at sequence length 128.
    public static let bertBaseUncased = ModelConfig(
        kind: .bert, name: "bert-base-uncased", hiddenSize: 768, numLayers: 12, numHeads: 12,
        intermediateSize: 3072, layerNormEps: 1e-12, vocabSize: 30522,
        maxPositionEmbeddings: 512, typeVocabSize: 2, seqLen: 128,
        imageSize: 0, patchSize: 0, numChannels: 0, hasPooler: true)

    /// google/vit-base-patch16-224 as `ViTModel` (with pooler): 197 tokens.
    public static let vitBasePatch16_224 = ModelConfig(
        kind: .vit, name: "vit-base-patch16-224", hiddenSize: 768, numLayers: 12, numHeads: 12,
        intermediateSize: 3072, layerNormEps: 1e-12, vocabSize: 0,
        maxPositionEmbeddings: 0, typeVocabSize: 0, seqLen: 0,
        imageSize: 224, patchSize: 16, numChannels: 3, hasPooler: true)

    /// The built-in models by name.
    public static let knownModels: [ModelConfig] = [.bertBaseUncased, .vitBasePatch16_224]

    /// A built-in model by its name ("bert-base-uncased", "vit-base-patch16-224"); a leading
    /// hub owner such as "google/" is accepted.
    public static func named(_ name: String) throws -> ModelConfig {
        let bare = name.split(separator: "/").last.map(String.init) ?? name
        guard let config = knownModels.first(where: { $0.name == bare.lowercased() }) else {
            throw ModelUsageError.unknownModel(name: name, known: knownModels.map(\.name))
        }
        return config
    }

    /// Debug knobs: fewer layers (first `layers` of the model; seeded weights stay those of
    /// the full model's layers) and/or another BERT sequence length.
    public func reduced(layers: Int?, seqLen: Int?) throws -> ModelConfig {
        var config = self
        if let layers {
            guard layers >= 1, layers <= numLayers else {
                throw ModelUsageError.invalidLayerCount(requested: layers, available: numLayers)
            }
            config.numLayers = layers
        }
        if let seqLen {
            guard kind == .bert else { throw ModelUsageError.sequenceLengthNotApplicable(model: name) }
            guard seqLen >= 1, seqLen <= maxPositionEmbeddings else {
                throw ModelUsageError.invalidSequenceLength(requested: seqLen, maximum: maxPositionEmbeddings)
            }
            config.seqLen = seqLen
        }
        return config
    }

    /// Checks the invariants every other part relies on (positive sizes, heads divide hidden,
    /// patches tile the image, seqLen fits the position table).
    public func validate() throws {
        func require(_ ok: Bool, _ reason: @autoclosure () -> String) throws {
            if !ok { throw ModelUsageError.invalidConfig("\(name): \(reason())") }
        }
        try require(hiddenSize > 0, "hidden size \(hiddenSize) must be positive")
        try require(numLayers > 0, "layer count \(numLayers) must be positive")
        try require(numHeads > 0, "head count \(numHeads) must be positive")
        try require(hiddenSize % numHeads == 0, "hidden size \(hiddenSize) is not divisible by \(numHeads) heads")
        try require(intermediateSize > 0, "intermediate size \(intermediateSize) must be positive")
        try require(layerNormEps.isFinite && layerNormEps >= 0, "layer_norm_eps \(layerNormEps) must be finite and ≥ 0")
        // Bound sizes (far above any real BERT/ViT) so that no product of them (parameter
        // counts, buffer sizes, S·S·heads) can overflow Int or an Int32 BLAS dimension.
        for (label, value, limit) in [("hidden size", hiddenSize, 1 << 14), ("layer count", numLayers, 1 << 10),
                                      ("intermediate size", intermediateSize, 1 << 16),
                                      ("vocab size", vocabSize, 1 << 22), ("max positions", maxPositionEmbeddings, 1 << 16),
                                      ("type vocab size", typeVocabSize, 1 << 10), ("image size", imageSize, 1 << 12),
                                      ("channel count", numChannels, 64)] {
            try require(value <= limit, "\(label) \(value) is implausibly large (limit \(limit))")
        }
        switch kind {
        case .bert:
            try require(vocabSize > 0, "vocab size \(vocabSize) must be positive")
            try require(typeVocabSize > 0, "type vocab size \(typeVocabSize) must be positive")
            try require(maxPositionEmbeddings > 0, "max position embeddings must be positive")
            try require(seqLen >= 1 && seqLen <= maxPositionEmbeddings,
                        "sequence length \(seqLen) must be in 1...\(maxPositionEmbeddings)")
        case .vit:
            try require(imageSize > 0 && patchSize > 0 && numChannels > 0,
                        "image size, patch size and channels must be positive")
            try require(imageSize % patchSize == 0, "image size \(imageSize) is not a multiple of patch size \(patchSize)")
            try require(sequenceLength <= 1 << 14, "\(sequenceLength) tokens (image/patch) is implausibly many")
        }
    }

    /// Components in execution order: embeddings, then attention and feed-forward per layer,
    /// then the pooler (BERT only if it has one; ViT always, for its final LayerNorm).
    public var components: [ModelComponent] {
        var list: [ModelComponent] = [.embeddings]
        for layer in 0..<max(numLayers, 0) {
            list.append(.attention(layer: layer))
            list.append(.feedForward(layer: layer))
        }
        if kind == .vit || hasPooler { list.append(.pooler) }
        return list
    }

    /// Every parameter of the model, in component order.
    public var parameters: [ParameterSpec] { components.flatMap { $0.parameters(in: self) } }

    /// Total parameter count (109,482,240 for bert-base-uncased's BertModel).
    public var parameterCount: Int { components.reduce(0) { $0 + $1.parameterCount(in: self) } }
}
