// ModelConfig and ModelComponent: real shapes and parameter counts, config.json parsing,
// debug knobs, component ids.

import Foundation
import Testing
import Transformer

@Suite struct ModelConfigTests {
    @Test func bertBaseShapesAndParameterCount() throws {
        let config = ModelConfig.bertBaseUncased
        #expect(config.sequenceLength == 128)
        #expect(config.headDim == 64)
        #expect(config.components.count == 1 + 2 * 12 + 1)
        #expect(config.parameters.count == 199)
        #expect(config.parameterCount == 109_482_240)
        let names = Set(config.parameters.map(\.name))
        #expect(names.count == 199)
        #expect(names.contains("encoder.layer.11.attention.self.query.weight"))
        #expect(names.contains("pooler.dense.bias"))
        let word = config.parameters.first { $0.name == "embeddings.word_embeddings.weight" }
        #expect(word?.shape == [30522, 768])
        #expect(ModelComponent.feedForward(layer: 3).parameters(in: config).map(\.shape)
            == [[3072, 768], [3072], [768, 3072], [768], [768], [768]])
        #expect(ModelComponent.attention(layer: 0).byteSize(in: config) == (4 * (768 * 768 + 768) + 2 * 768) * 4)
    }

    @Test func vitBaseShapesAndParameterCount() throws {
        let config = ModelConfig.vitBasePatch16_224
        #expect(config.sequenceLength == 197)
        #expect(config.patchVectorSize == 768)
        #expect(config.parameters.count == 200)
        #expect(config.parameterCount == 86_389_248)
        #expect(ModelComponent.embeddings.parameters(in: config).map(\.shape)
            == [[1, 1, 768], [1, 197, 768], [768, 3, 16, 16], [768]])
        #expect(ModelComponent.pooler.parameterNames(config)
            == ["layernorm.weight", "layernorm.bias", "pooler.dense.weight", "pooler.dense.bias"])
        #expect(ModelComponent.attention(layer: 2).parameterNames(config).first == "encoder.layer.2.layernorm_before.weight")
        #expect(ModelComponent.feedForward(layer: 2).parameterNames(config).first == "encoder.layer.2.layernorm_after.weight")

        var noPooler = config
        noPooler.hasPooler = false
        #expect(noPooler.components.last == .pooler)  // the final layernorm still runs
        #expect(noPooler.parameterCount == 86_389_248 - (768 * 768 + 768))
    }

    @Test func bertWithoutPoolerHasNoPoolerComponent() throws {
        let config = try Tiny.bert(hasPooler: false)
        #expect(!config.components.contains(.pooler))
    }

    @Test func namedModels() throws {
        #expect(try ModelConfig.named("bert-base-uncased") == .bertBaseUncased)
        #expect(try ModelConfig.named("google/vit-base-patch16-224") == .vitBasePatch16_224)
        let error = modelUsageError { _ = try ModelConfig.named("gpt2") }
        #expect(error?.description.contains("bert-base-uncased") == true)
    }

    @Test func reducedKnobs() throws {
        let bert = ModelConfig.bertBaseUncased
        let small = try bert.reduced(layers: 2, seqLen: 16)
        #expect(small.numLayers == 2 && small.seqLen == 16 && small.sequenceLength == 16)
        #expect(try bert.reduced(layers: nil, seqLen: nil) == bert)
        #expect(try bert.reduced(layers: 12, seqLen: 512).seqLen == 512)
        #expect(modelUsageError { _ = try bert.reduced(layers: 0, seqLen: nil) } == .invalidLayerCount(requested: 0, available: 12))
        #expect(modelUsageError { _ = try bert.reduced(layers: 13, seqLen: nil) } == .invalidLayerCount(requested: 13, available: 12))
        #expect(modelUsageError { _ = try bert.reduced(layers: nil, seqLen: 513) } == .invalidSequenceLength(requested: 513, maximum: 512))
        #expect(modelUsageError { _ = try bert.reduced(layers: nil, seqLen: 0) } != nil)
        let vit = ModelConfig.vitBasePatch16_224
        #expect(try vit.reduced(layers: 1, seqLen: nil).numLayers == 1)
        #expect(modelUsageError { _ = try vit.reduced(layers: nil, seqLen: 64) } == .sequenceLengthNotApplicable(model: vit.name))
    }

    @Test func invalidConfigsAreRejected() {
        #expect(modelUsageError {
            _ = try ModelConfig.bert(name: "x", hiddenSize: 30, numLayers: 1, numHeads: 4, intermediateSize: 8,
                                     vocabSize: 10, maxPositionEmbeddings: 8, typeVocabSize: 2, seqLen: 4)
        } != nil)
        #expect(modelUsageError {
            _ = try ModelConfig.vit(name: "x", hiddenSize: 32, numLayers: 1, numHeads: 2, intermediateSize: 8,
                                    imageSize: 30, patchSize: 16, numChannels: 3)
        } != nil)
    }

    // MARK: config.json

    private func parse(_ json: String) throws -> ModelConfig {
        try ModelConfig(huggingFaceConfigJSON: Data(json.utf8), path: "test/config.json")
    }

    /// all-MiniLM-L6-v2's config.json (abridged): a 6-layer, 384-wide BERT.
    private let miniLM = """
        {"_name_or_path": "nreimers/MiniLM-L6-H384-uncased", "architectures": ["BertModel"],
         "attention_probs_dropout_prob": 0.1, "gradient_checkpointing": false, "hidden_act": "gelu",
         "hidden_dropout_prob": 0.1, "hidden_size": 384, "initializer_range": 0.02,
         "intermediate_size": 1536, "layer_norm_eps": 1e-12, "max_position_embeddings": 512,
         "model_type": "bert", "num_attention_heads": 12, "num_hidden_layers": 6, "pad_token_id": 0,
         "position_embedding_type": "absolute", "transformers_version": "4.8.2", "type_vocab_size": 2,
         "use_cache": true, "vocab_size": 30522}
        """

    @Test func parsesMiniLMConfig() throws {
        let config = try parse(miniLM)
        #expect(config.kind == .bert)
        #expect(config.name == "MiniLM-L6-H384-uncased")
        #expect(config.hiddenSize == 384 && config.numLayers == 6 && config.numHeads == 12)
        #expect(config.intermediateSize == 1536 && config.vocabSize == 30522)
        #expect(config.maxPositionEmbeddings == 512 && config.typeVocabSize == 2 && config.seqLen == 128)
        #expect(config.layerNormEps == 1e-12 && config.headDim == 32)
        #expect(config.parameterCount == 22_713_216)
    }

    @Test func parsesHubViTConfig() throws {
        let config = try parse("""
            {"architectures": ["ViTForImageClassification"], "attention_probs_dropout_prob": 0.0,
             "hidden_act": "gelu", "hidden_size": 768, "image_size": 224, "intermediate_size": 3072,
             "layer_norm_eps": 1e-12, "model_type": "vit", "num_attention_heads": 12, "num_channels": 3,
             "num_hidden_layers": 12, "patch_size": 16, "qkv_bias": true, "id2label": {"0": "tench"}}
            """)
        var expected = ModelConfig.vitBasePatch16_224
        expected.name = config.name
        #expect(config == expected)
    }

    @Test func roundTripsItsOwnConfigJSON() throws {
        for config in [ModelConfig.bertBaseUncased, .vitBasePatch16_224, try Tiny.bert(), try Tiny.vit()] {
            var parsed = try ModelConfig(huggingFaceConfigJSON: config.huggingFaceConfigJSON())
            if config.kind == .bert { parsed.seqLen = config.seqLen }
            #expect(parsed == config)
        }
    }

    @Test func configErrorsNameTheProblem() throws {
        func error(_ json: String) -> String { modelDataError { _ = try parse(json) }?.description ?? "no error" }
        #expect(error("{not json").contains("not valid JSON"))
        #expect(error("[1, 2]").contains("not a JSON object"))
        #expect(error(miniLM.replacingOccurrences(of: "\"model_type\": \"bert\"", with: "\"model_type\": \"gpt2\""))
            .contains("model_type \"gpt2\""))
        #expect(error(miniLM.replacingOccurrences(of: "\"hidden_act\": \"gelu\"", with: "\"hidden_act\": \"gelu_new\""))
            .contains("hidden_act \"gelu_new\""))
        #expect(error(miniLM.replacingOccurrences(of: "\"hidden_size\": 384,", with: "")).contains("\"hidden_size\" is missing"))
        #expect(error(miniLM.replacingOccurrences(of: "\"hidden_size\": 384", with: "\"hidden_size\": \"384\""))
            .contains("\"hidden_size\" is not a number"))
        #expect(error(miniLM.replacingOccurrences(of: "\"hidden_size\": 384", with: "\"hidden_size\": 38.5"))
            .contains("hidden_size"))
        #expect(error(miniLM.replacingOccurrences(of: "\"hidden_size\": 384", with: "\"hidden_size\": true"))
            .contains("hidden_size"))
        #expect(error(miniLM.replacingOccurrences(of: "\"hidden_size\": 384", with: "\"hidden_size\": 380"))
            .contains("not divisible"))
        #expect(error(miniLM.replacingOccurrences(of: "\"absolute\"", with: "\"relative_key\"")).contains("relative_key"))
    }

    @Test func missingConfigFileIsMissingFile() throws {
        let directory = try TemporaryDirectory()
        let error = modelDataError { _ = try ModelConfig(huggingFaceConfigAt: directory.url.appendingPathComponent("config.json")) }
        guard case .missingFile? = error else {
            Issue.record("expected missingFile, got \(String(describing: error))")
            return
        }
        #expect(error?.isUnreadable == false)
        // A directory where the file should be cannot be read: that is the exit-2 case.
        let trap = try directory.subdirectory("config.json")
        let unreadable = modelDataError { _ = try ModelConfig(huggingFaceConfigAt: trap) }
        #expect(unreadable?.isUnreadable == true)
    }

    @Test func componentIdsRoundTrip() throws {
        let config = ModelConfig.bertBaseUncased
        for component in config.components {
            #expect(ModelComponent(id: component.id) == component)
        }
        #expect(ModelComponent.attention(layer: 3).id == "layer3.attention")
        #expect(ModelComponent.feedForward(layer: 3).id == "layer3.feed_forward")
        for bad in ["", "layer", "layer.attention", "layer-1.attention", "layer03.attention", "layer3.mlp", "layerx.attention"] {
            #expect(ModelComponent(id: bad) == nil, "\(bad)")
        }
        let encoded = try JSONEncoder().encode([ModelComponent.embeddings, .feedForward(layer: 11)])
        #expect(String(decoding: encoded, as: UTF8.self) == #"["embeddings","layer11.feed_forward"]"#)
        #expect(try JSONDecoder().decode([ModelComponent].self, from: encoded) == [.embeddings, .feedForward(layer: 11)])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([ModelComponent].self, from: Data(#"["nope"]"#.utf8)) }
    }
}
