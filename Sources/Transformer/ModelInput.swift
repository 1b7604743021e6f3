// ModelInput: what one inference consumes (batch 1). BERT: token ids, attention mask and
// token types, always `config.seqLen` long (shorter inputs are padded with mask 0, which
// leaves the valid tokens' outputs unchanged since only keys are masked). ViT: one NCHW image.

import Foundation

public enum ModelInput: Sendable, Hashable, Codable {
    case tokens(inputIds: [Int32], attentionMask: [Int32], tokenTypeIds: [Int32])
    /// [numChannels][imageSize][imageSize], flattened row-major (NCHW without the batch).
    case pixels([Float])

    /// BERT's [CLS] and [SEP] ids in the uncased vocabulary.
    public static let clsTokenId: Int32 = 101
    public static let sepTokenId: Int32 = 102

    /// Tokens (BERT) or floats (ViT) in the input.
    public var count: Int {
        switch self {
        case let .tokens(ids, _, _): return ids.count
        case let .pixels(values): return values.count
        }
    }

    /// A deterministic input. BERT: [CLS], random ids in the vocabulary, [SEP], and the last
    /// seqLen/8 positions padding (id 0, mask 0) so masking is exercised; token types 0 for
    /// the first half of the real tokens, 1 for the second (a sentence pair), 0 on padding.
    /// ViT: pixels uniform in [-1, 1) (the range after the processor's normalisation).
    public static func seeded(config: ModelConfig, seed: UInt64) -> ModelInput {
        var generator = Xoshiro256StarStar(seed: seed ^ 0x1A9E_7B3C_5D2F_4E61)
        switch config.kind {
        case .bert:
            let length = max(config.seqLen, 0)
            let valid = length - length / 8
            let vocab = max(config.vocabSize, 1)
            let cls = min(clsTokenId, Int32(clamping: vocab - 1)), sep = min(sepTokenId, Int32(clamping: vocab - 1))
            var ids = [Int32](repeating: 0, count: length)
            var mask = [Int32](repeating: 0, count: length)
            var types = [Int32](repeating: 0, count: length)
            for position in 0..<valid {
                ids[position] = Int32(generator.nextInt(below: vocab))
                mask[position] = 1
                types[position] = position >= valid / 2 && config.typeVocabSize > 1 ? 1 : 0
            }
            if valid > 0 { ids[0] = cls }
            if valid > 1 { ids[valid - 1] = sep }
            return .tokens(inputIds: ids, attentionMask: mask, tokenTypeIds: types)
        case .vit:
            let count = max(config.pixelCount, 0)
            var pixels = [Float](repeating: 0, count: count)
            for i in 0..<count { pixels[i] = generator.nextSignedUnitFloat() }
            return .pixels(pixels)
        }
    }

    /// Checks the input fits `config`: kind, length, ids within the vocabularies, mask 0/1,
    /// finite pixels. `source` names the file in the message.
    public func validate(for config: ModelConfig, source: String = "input") throws {
        func fail(_ reason: String) -> ModelDataError { .invalidInput(source: source, reason: reason) }
        switch (config.kind, self) {
        case let (.bert, .tokens(ids, mask, types)):
            guard ids.count == config.seqLen, mask.count == ids.count, types.count == ids.count else {
                throw fail("expected \(config.seqLen) input ids, mask and token types, got \(ids.count), \(mask.count), \(types.count)")
            }
            if let position = ids.firstIndex(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
                throw fail("input id \(ids[position]) at position \(position) is outside the vocabulary 0..<\(config.vocabSize)")
            }
            if let position = mask.firstIndex(where: { $0 != 0 && $0 != 1 }) {
                throw fail("attention mask value \(mask[position]) at position \(position) is not 0 or 1")
            }
            if let position = types.firstIndex(where: { $0 < 0 || Int($0) >= config.typeVocabSize }) {
                throw fail("token type \(types[position]) at position \(position) is outside 0..<\(config.typeVocabSize)")
            }
        case let (.vit, .pixels(values)):
            guard values.count == config.pixelCount else {
                throw fail("expected \(config.pixelCount) pixel values ([\(config.numChannels)][\(config.imageSize)][\(config.imageSize)]), got \(values.count)")
            }
            if let position = values.firstIndex(where: { !$0.isFinite }) {
                throw fail("pixel value at flat index \(position) is not finite")
            }
        case (.bert, .pixels):
            throw fail("\(config.name) takes token ids, not pixels")
        case (.vit, .tokens):
            throw fail("\(config.name) takes pixel values, not token ids")
        }
    }

    /// Parses Hugging Face style JSON (batch 1): BERT `input_ids` [[...]] with optional
    /// `attention_mask` (default all ones) and `token_type_ids` (default zeros), padded to
    /// `config.seqLen`; ViT `pixel_values` [1][C][H][W]. Other keys are ignored.
    public static func fromJSON(data: Data, config: ModelConfig, source: String = "input JSON") throws -> ModelInput {
        func fail(_ reason: String) -> ModelDataError { .invalidInput(source: source, reason: reason) }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw fail("not valid JSON")
        }
        guard let json = object as? [String: Any] else { throw fail("top level is not a JSON object") }

        let input: ModelInput
        switch config.kind {
        case .bert:
            guard let rawIds = json["input_ids"] else { throw fail("\"input_ids\" is missing") }
            let ids = try batchOfOne(rawIds, key: "input_ids", fail: fail)
            guard !ids.isEmpty, ids.count <= config.seqLen else {
                let limit = config.maxPositionEmbeddings
                let fix = ids.count > limit ? "the model's position limit is \(limit) tokens: truncate the input"
                                            : "raise --seq-len to \(ids.count) (at most \(limit))"
                throw fail("\"input_ids\" has \(ids.count) tokens; the model runs 1...\(config.seqLen) now: \(fix)")
            }
            var mask = [Int32](repeating: 1, count: ids.count)
            var types = [Int32](repeating: 0, count: ids.count)
            if let rawMask = json["attention_mask"] {
                mask = try batchOfOne(rawMask, key: "attention_mask", fail: fail)
                guard mask.count == ids.count else { throw fail("\"attention_mask\" has \(mask.count) entries for \(ids.count) input ids") }
            }
            if let rawTypes = json["token_type_ids"] {
                types = try batchOfOne(rawTypes, key: "token_type_ids", fail: fail)
                guard types.count == ids.count else { throw fail("\"token_type_ids\" has \(types.count) entries for \(ids.count) input ids") }
            }
            let padding = config.seqLen - ids.count
            input = .tokens(inputIds: ids + Array(repeating: 0, count: padding),
                            attentionMask: mask + Array(repeating: 0, count: padding),
                            tokenTypeIds: types + Array(repeating: 0, count: padding))
        case .vit:
            guard let raw = json["pixel_values"] else { throw fail("\"pixel_values\" is missing") }
            let shape = [1, config.numChannels, config.imageSize, config.imageSize]
            var values: [Float] = []
            values.reserveCapacity(config.pixelCount)
            try flatten(raw, shape: shape, depth: 0, into: &values, fail: fail)
            input = .pixels(values)
        }
        try input.validate(for: config, source: source)
        return input
    }

    /// [[Int, ...]] with exactly one row -> the row as Int32.
    private static func batchOfOne(_ value: Any, key: String, fail: (String) -> ModelDataError) throws -> [Int32] {
        guard let batch = value as? [Any], batch.count == 1, let row = batch[0] as? [Any] else {
            throw fail("\"\(key)\" must be [[...]] with batch size 1")
        }
        return try row.enumerated().map { position, element in
            guard let number = element as? NSNumber, String(cString: number.objCType) != "c",
                  number.doubleValue.rounded() == number.doubleValue,
                  abs(number.doubleValue) <= Double(Int32.max) else {
                throw fail("\"\(key)\"[0][\(position)] is not an integer")
            }
            return Int32(number.doubleValue)
        }
    }

    /// Nested arrays of exactly `shape` -> flat floats, row-major.
    private static func flatten(_ value: Any, shape: [Int], depth: Int, into values: inout [Float],
                                fail: (String) -> ModelDataError) throws {
        if depth == shape.count {
            guard let number = value as? NSNumber, String(cString: number.objCType) != "c" else {
                throw fail("\"pixel_values\" holds a non-number")
            }
            values.append(number.floatValue)
            return
        }
        guard let array = value as? [Any], array.count == shape[depth] else {
            throw fail("\"pixel_values\" must have shape \(shape); dimension \(depth) differs")
        }
        for element in array { try flatten(element, shape: shape, depth: depth + 1, into: &values, fail: fail) }
    }
}
