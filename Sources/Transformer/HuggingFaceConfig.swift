// Reading and writing Hugging Face config.json files for BERT and ViT.

import Foundation

extension ModelConfig {
    /// Parses a Hugging Face `config.json` (model_type "bert" or "vit"). BERT runs at
    /// min(128, max_position_embeddings) tokens; `hasPooler` is true (the loader clears it
    /// when the weights have no `pooler.dense`).
    public init(huggingFaceConfigAt url: URL) throws {
        let data = try FileAccess.read(url, what: "a model directory needs config.json next to model.safetensors")
        try self.init(huggingFaceConfigJSON: data, path: url.path, defaultName: url.deletingLastPathComponent().lastPathComponent)
    }

    /// Parses config.json bytes; `path` is only used in error messages.
    public init(huggingFaceConfigJSON data: Data, path: String = "config.json", defaultName: String = "model") throws {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw ModelDataError.invalidConfig(path: path, reason: "not valid JSON")
        }
        guard let json = object as? [String: Any] else {
            throw ModelDataError.invalidConfig(path: path, reason: "top level is not a JSON object")
        }
        let fields = ConfigFields(json: json, path: path)

        let modelType = try fields.string("model_type")
        let activation = try fields.string("hidden_act", default: "gelu")
        guard activation == "gelu" else {
            throw ModelDataError.unsupportedActivation(path: path, activation: activation)
        }
        var name = defaultName
        if let given = json["_name_or_path"] as? String, !given.isEmpty {
            name = given.split(separator: "/").last.map(String.init) ?? given
        }
        let hidden = try fields.int("hidden_size")
        let layers = try fields.int("num_hidden_layers")
        let heads = try fields.int("num_attention_heads")
        let intermediate = try fields.int("intermediate_size")
        let eps = try fields.float("layer_norm_eps", default: 1e-12)

        do {
            switch modelType {
            case "bert":
                if let embedding = json["position_embedding_type"] as? String, embedding != "absolute" {
                    throw ModelDataError.invalidConfig(
                        path: path, reason: "position_embedding_type \"\(embedding)\" is not supported; only \"absolute\"")
                }
                let maxPositions = try fields.int("max_position_embeddings")
                self = try .bert(
                    name: name, hiddenSize: hidden, numLayers: layers, numHeads: heads,
                    intermediateSize: intermediate, vocabSize: try fields.int("vocab_size"),
                    maxPositionEmbeddings: maxPositions,
                    typeVocabSize: try fields.int("type_vocab_size", default: 2),
                    seqLen: min(128, max(maxPositions, 1)), layerNormEps: eps)
            case "vit":
                if let qkvBias = json["qkv_bias"] as? Bool, !qkvBias {
                    throw ModelDataError.invalidConfig(path: path, reason: "qkv_bias false is not supported")
                }
                self = try .vit(
                    name: name, hiddenSize: hidden, numLayers: layers, numHeads: heads,
                    intermediateSize: intermediate, imageSize: try fields.int("image_size", default: 224),
                    patchSize: try fields.int("patch_size", default: 16),
                    numChannels: try fields.int("num_channels", default: 3), layerNormEps: eps)
            default:
                throw ModelDataError.unsupportedModelType(path: path, modelType: modelType)
            }
        } catch let error as ModelUsageError {
            // Inconsistent sizes in a file are bad data, not bad flags.
            throw ModelDataError.invalidConfig(path: path, reason: error.description)
        }
    }

    /// A Hugging Face style config.json for this config (what `SafetensorsWriter.export`
    /// writes next to the weights).
    public func huggingFaceConfigJSON() -> Data {
        var json: [String: Any] = [
            "_name_or_path": name,
            "model_type": kind.rawValue,
            "hidden_size": hiddenSize,
            "num_hidden_layers": numLayers,
            "num_attention_heads": numHeads,
            "intermediate_size": intermediateSize,
            "hidden_act": "gelu",
            "layer_norm_eps": Double(layerNormEps),
        ]
        switch kind {
        case .bert:
            json["architectures"] = ["BertModel"]
            json["vocab_size"] = vocabSize
            json["max_position_embeddings"] = maxPositionEmbeddings
            json["type_vocab_size"] = typeVocabSize
            json["position_embedding_type"] = "absolute"
        case .vit:
            json["architectures"] = ["ViTModel"]
            json["image_size"] = imageSize
            json["patch_size"] = patchSize
            json["num_channels"] = numChannels
            json["qkv_bias"] = true
        }
        // Only plain strings, numbers and arrays: serialization cannot fail.
        return (try? JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])) ?? Data()
    }
}

/// Typed access to config.json fields, so each error names the field.
private struct ConfigFields {
    let json: [String: Any]
    let path: String

    func string(_ key: String, default fallback: String? = nil) throws -> String {
        guard let value = json[key] else {
            if let fallback { return fallback }
            throw ModelDataError.invalidConfig(path: path, reason: "field \"\(key)\" is missing")
        }
        guard let string = value as? String else {
            throw ModelDataError.invalidConfig(path: path, reason: "field \"\(key)\" is not a string")
        }
        return string
    }

    func int(_ key: String, default fallback: Int? = nil) throws -> Int {
        guard let value = json[key], !(value is NSNull) else {
            if let fallback { return fallback }
            throw ModelDataError.invalidConfig(path: path, reason: "field \"\(key)\" is missing")
        }
        guard let number = value as? NSNumber, !isBoolean(number) else {
            throw ModelDataError.invalidConfig(path: path, reason: "field \"\(key)\" is not a number")
        }
        let double = number.doubleValue
        guard double.rounded() == double, double >= 0, double <= Double(1 << 40) else {
            throw ModelDataError.invalidConfig(path: path, reason: "field \"\(key)\" = \(number) is not a non-negative integer")
        }
        return Int(double)
    }

    func float(_ key: String, default fallback: Float) throws -> Float {
        guard let value = json[key], !(value is NSNull) else { return fallback }
        guard let number = value as? NSNumber, !isBoolean(number), number.doubleValue.isFinite else {
            throw ModelDataError.invalidConfig(path: path, reason: "field \"\(key)\" is not a number")
        }
        return Float(number.doubleValue)
    }

    private func isBoolean(_ number: NSNumber) -> Bool {
        // JSON true/false arrive as NSNumber too (objCType "c", which JSON numbers never
        // get); a config that says `"hidden_size": true` is wrong.
        String(cString: number.objCType) == "c"
    }
}

