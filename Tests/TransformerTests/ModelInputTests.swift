// ModelInput: seeded inputs and Hugging Face style JSON, good and bad.

import Foundation
import Testing
import Transformer

@Suite struct ModelInputTests {
    @Test func seededBertInput() throws {
        let config = ModelConfig.bertBaseUncased
        guard case let .tokens(ids, mask, types) = ModelInput.seeded(config: config, seed: 1) else {
            Issue.record("expected tokens")
            return
        }
        #expect(ids.count == 128 && mask.count == 128 && types.count == 128)
        #expect(ids[0] == 101 && ids[111] == 102)  // 128 - 128/8 = 112 real tokens
        #expect(mask[..<112].allSatisfy { $0 == 1 } && mask[112...].allSatisfy { $0 == 0 })
        #expect(ids[112...].allSatisfy { $0 == 0 })
        #expect(types[..<56].allSatisfy { $0 == 0 } && types[56..<112].allSatisfy { $0 == 1 })
        #expect(ids.allSatisfy { $0 >= 0 && $0 < 30522 })
        #expect(Set(ids).count > 50)
        #expect(ModelInput.seeded(config: config, seed: 1) == .seeded(config: config, seed: 1))
        #expect(ModelInput.seeded(config: config, seed: 1) != .seeded(config: config, seed: 2))
        try ModelInput.seeded(config: config, seed: 1).validate(for: config)
    }

    @Test func seededVitInput() throws {
        let config = ModelConfig.vitBasePatch16_224
        guard case let .pixels(values) = ModelInput.seeded(config: config, seed: 1) else {
            Issue.record("expected pixels")
            return
        }
        #expect(values.count == 3 * 224 * 224)
        #expect(values.allSatisfy { $0 >= -1 && $0 <= 1 })
        #expect(values.min()! < -0.99 && values.max()! > 0.99)
    }

    private func parse(_ json: String, _ config: ModelConfig) throws -> ModelInput {
        try ModelInput.fromJSON(data: Data(json.utf8), config: config, source: "in.json")
    }

    @Test func bertJSONIsPaddedToTheSequenceLength() throws {
        let config = try Tiny.bert()
        let input = try parse(#"{"input_ids": [[101, 5, 6, 102]], "attention_mask": [[1, 1, 1, 1]], "token_type_ids": [[0, 0, 1, 1]], "labels": [3]}"#, config)
        #expect(input == .tokens(inputIds: [101, 5, 6, 102, 0, 0, 0, 0], attentionMask: [1, 1, 1, 1, 0, 0, 0, 0],
                                 tokenTypeIds: [0, 0, 1, 1, 0, 0, 0, 0]))
        // Mask defaults to ones, types to zeros.
        let defaults = try parse(#"{"input_ids": [[101, 7, 8, 9, 10, 11, 12, 102]]}"#, config)
        #expect(defaults == .tokens(inputIds: [101, 7, 8, 9, 10, 11, 12, 102], attentionMask: [Int32](repeating: 1, count: 8),
                                    tokenTypeIds: [Int32](repeating: 0, count: 8)))
    }

    @Test func vitJSON() throws {
        let config = try Tiny.vit()
        let flat: [Float] = (0..<(3 * 32 * 32)).map { Float($0 % 7) / 7 - 0.5 }
        var channels: [[[Float]]] = []
        for c in 0..<3 {
            var rows: [[Float]] = []
            for y in 0..<32 {
                let start = (c * 32 + y) * 32
                rows.append(Array(flat[start..<start + 32]))
            }
            channels.append(rows)
        }
        let data = try JSONSerialization.data(withJSONObject: ["pixel_values": [channels]])
        #expect(try ModelInput.fromJSON(data: data, config: config) == .pixels(flat))
    }

    @Test func badJSONInputs() throws {
        let bert = try Tiny.bert()
        func error(_ json: String, _ config: ModelConfig) -> String {
            modelDataError { _ = try parse(json, config) }?.description ?? "no error"
        }
        #expect(error("{", bert).contains("not valid JSON"))
        #expect(error(#"{"attention_mask": [[1]]}"#, bert).contains("\"input_ids\" is missing"))
        #expect(error(#"{"input_ids": [101, 102]}"#, bert) == "no error", "a flat [sequence] is batch 1 too")
        #expect(error(#"{"input_ids": [[[101, 102]]]}"#, bert).contains("batch size 1"))
        #expect(error(#"{"input_ids": [[101], [102]]}"#, bert).contains("batch size 1"))
        #expect(error(#"{"input_ids": [[101, 500, 102]]}"#, bert).contains("input id 500 at position 1 is outside the vocabulary 0..<120"))
        #expect(error(#"{"input_ids": [[101, -1, 102]]}"#, bert).contains("outside the vocabulary"))
        #expect(error(#"{"input_ids": [[101, 1.5, 102]]}"#, bert).contains("is not an integer"))
        #expect(error(#"{"input_ids": [[101, 5, 102]], "attention_mask": [[1, 1]]}"#, bert).contains("\"attention_mask\" has 2 entries"))
        #expect(error(#"{"input_ids": [[101, 5, 102]], "attention_mask": [[1, 2, 1]]}"#, bert).contains("not 0 or 1"))
        #expect(error(#"{"input_ids": [[101, 5, 102]], "token_type_ids": [[0, 2, 0]]}"#, bert).contains("token type 2"))
        #expect(error(#"{"input_ids": [[1, 2, 3, 4, 5, 6, 7, 8, 9]]}"#, bert).contains("9 tokens"))
        #expect(error(#"{"input_ids": [[]]}"#, bert).contains("0 tokens"))
        let vit = try Tiny.vit()
        #expect(error(#"{"pixel_values": [[[1, 2]]]}"#, vit).contains("shape [1, 3, 32, 32]"))
        #expect(error(#"{"input_ids": [[1]]}"#, vit).contains("\"pixel_values\" is missing"))
        #expect(error(#"{"pixel_values": 3}"#, vit).contains("shape"))
    }

    @Test func validateRejectsMismatches() throws {
        let bert = try Tiny.bert(), vit = try Tiny.vit()
        #expect(modelDataError { try ModelInput.pixels([0]).validate(for: bert) }?.description.contains("takes token ids") == true)
        #expect(modelDataError { try ModelInput.seeded(config: bert, seed: 1).validate(for: vit) } != nil)
        var pixels = [Float](repeating: 0, count: vit.pixelCount)
        pixels[5] = .nan
        #expect(modelDataError { try ModelInput.pixels(pixels).validate(for: vit) }?.description.contains("not finite") == true)
        #expect(modelDataError { try ModelInput.tokens(inputIds: [1], attentionMask: [1], tokenTypeIds: [0]).validate(for: bert) } != nil)
    }

    @Test func initialStatePreparesTheMask() throws {
        let config = try Tiny.bert()
        let state = try ActivationState.initial(.seeded(config: config, seed: 1), config: config)
        #expect(state.additiveMask == [0, 0, 0, 0, 0, 0, 0, -Float.greatestFiniteMagnitude])
        #expect(state.hidden.isEmpty && state.pooled == nil && state.sequenceLength == 8 && state.hiddenSize == 32)
        let vit = try Tiny.vit()
        #expect(try ActivationState.initial(.seeded(config: vit, seed: 1), config: vit).additiveMask == [0, 0, 0, 0, 0])
    }
}
