// ModelComponent: the units a model is split into, and the HF parameters each one owns.
// A component is what a context loads, loses and reloads, so its parameter list must be exact.

/// One named parameter with its shape (fp32 when loaded).
public struct ParameterSpec: Sendable, Hashable, Codable {
    public var name: String
    public var shape: [Int]
    public var count: Int { shape.reduce(1, *) }
    public var byteSize: Int { count * MemoryLayout<Float>.size }

    public init(name: String, shape: [Int]) {
        self.name = name
        self.shape = shape
    }
}

/// A unit of the model's execution: embeddings, one layer's attention block, one layer's
/// feed-forward block, or the pooler (BERT: pooler dense + tanh; ViT: final layernorm + pooler).
public enum ModelComponent: Sendable, Hashable, CustomStringConvertible {
    case embeddings
    case attention(layer: Int)
    case feedForward(layer: Int)
    case pooler

    /// Stable id used in reports and plans: "embeddings", "layer3.attention",
    /// "layer3.feed_forward", "pooler".
    public var id: String {
        switch self {
        case .embeddings: return "embeddings"
        case let .attention(layer): return "layer\(layer).attention"
        case let .feedForward(layer): return "layer\(layer).feed_forward"
        case .pooler: return "pooler"
        }
    }

    public var description: String { id }

    /// The encoder layer this component belongs to, if any.
    public var layer: Int? {
        switch self {
        case let .attention(layer), let .feedForward(layer): return layer
        case .embeddings, .pooler: return nil
        }
    }

    /// Parses an `id`; nil if it is not one.
    public init?(id: String) {
        switch id {
        case "embeddings": self = .embeddings
        case "pooler": self = .pooler
        default:
            guard id.hasPrefix("layer"), let dot = id.firstIndex(of: ".") else { return nil }
            let number = id[id.index(id.startIndex, offsetBy: 5)..<dot]
            guard !number.isEmpty, number.allSatisfy(\.isASCII), let layer = Int(number), layer >= 0,
                  String(layer) == number else { return nil }
            switch id[id.index(after: dot)...] {
            case "attention": self = .attention(layer: layer)
            case "feed_forward": self = .feedForward(layer: layer)
            default: return nil
            }
        }
    }

    /// The canonical HF bare-model parameters (`BertModel` / `ViTModel` names) this component
    /// owns, with shapes for `config`.
    public func parameters(in config: ModelConfig) -> [ParameterSpec] {
        let h = config.hiddenSize
        let i = config.intermediateSize
        func linear(_ prefix: String, out: Int, in inputs: Int) -> [ParameterSpec] {
            [ParameterSpec(name: "\(prefix).weight", shape: [out, inputs]),
             ParameterSpec(name: "\(prefix).bias", shape: [out])]
        }
        func norm(_ prefix: String) -> [ParameterSpec] {
            [ParameterSpec(name: "\(prefix).weight", shape: [h]),
             ParameterSpec(name: "\(prefix).bias", shape: [h])]
        }
        switch (config.kind, self) {
        case (.bert, .embeddings):
            return [
                ParameterSpec(name: "embeddings.word_embeddings.weight", shape: [config.vocabSize, h]),
                ParameterSpec(name: "embeddings.position_embeddings.weight", shape: [config.maxPositionEmbeddings, h]),
                ParameterSpec(name: "embeddings.token_type_embeddings.weight", shape: [config.typeVocabSize, h]),
            ] + norm("embeddings.LayerNorm")
        case let (.bert, .attention(n)):
            let p = "encoder.layer.\(n).attention"
            return linear("\(p).self.query", out: h, in: h) + linear("\(p).self.key", out: h, in: h)
                + linear("\(p).self.value", out: h, in: h) + linear("\(p).output.dense", out: h, in: h)
                + norm("\(p).output.LayerNorm")
        case let (.bert, .feedForward(n)):
            let p = "encoder.layer.\(n)"
            return linear("\(p).intermediate.dense", out: i, in: h) + linear("\(p).output.dense", out: h, in: i)
                + norm("\(p).output.LayerNorm")
        case (.bert, .pooler):
            return config.hasPooler ? linear("pooler.dense", out: h, in: h) : []
        case (.vit, .embeddings):
            return [
                ParameterSpec(name: "embeddings.cls_token", shape: [1, 1, h]),
                ParameterSpec(name: "embeddings.position_embeddings", shape: [1, config.sequenceLength, h]),
                ParameterSpec(name: "embeddings.patch_embeddings.projection.weight",
                              shape: [h, config.numChannels, config.patchSize, config.patchSize]),
                ParameterSpec(name: "embeddings.patch_embeddings.projection.bias", shape: [h]),
            ]
        case let (.vit, .attention(n)):
            let p = "encoder.layer.\(n)"
            return norm("\(p).layernorm_before")
                + linear("\(p).attention.attention.query", out: h, in: h)
                + linear("\(p).attention.attention.key", out: h, in: h)
                + linear("\(p).attention.attention.value", out: h, in: h)
                + linear("\(p).attention.output.dense", out: h, in: h)
        case let (.vit, .feedForward(n)):
            let p = "encoder.layer.\(n)"
            return norm("\(p).layernorm_after") + linear("\(p).intermediate.dense", out: i, in: h)
                + linear("\(p).output.dense", out: h, in: i)
        case (.vit, .pooler):
            return norm("layernorm") + (config.hasPooler ? linear("pooler.dense", out: h, in: h) : [])
        }
    }

    /// Just the names of `parameters(in:)`.
    public func parameterNames(_ config: ModelConfig) -> [String] { parameters(in: config).map(\.name) }

    public func parameterCount(in config: ModelConfig) -> Int {
        parameters(in: config).reduce(0) { $0 + $1.count }
    }

    /// Bytes of this component's weights in fp32.
    public func byteSize(in config: ModelConfig) -> Int {
        parameterCount(in: config) * MemoryLayout<Float>.size
    }
}

// Encoded as its id string, so plans and reports read "layer3.attention".
extension ModelComponent: Codable {
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let id = try container.decode(String.self)
        guard let component = ModelComponent(id: id) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a model component id: \(id)")
        }
        self = component
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(id)
    }
}
