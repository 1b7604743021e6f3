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

    /// Parses Hugging Face style JSON (batch 1); see `InputTensors` for the forms taken.
    public static func fromJSON(data: Data, config: ModelConfig, source: String = "input JSON") throws -> ModelInput {
        try from(tensors: try InputTensors.json(data, source: source), config: config, source: source)
    }

    /// Reads an input file of any form `InputTensors` takes.
    public static func from(file url: URL, config: ModelConfig) throws -> ModelInput {
        try from(tensors: try InputTensors.read(url), config: config, source: url.path)
    }

    /// The names of `tensors` the model does not take as inputs (ignored; say so).
    public static func ignoredNames(in tensors: [String: InputTensor], config: ModelConfig) -> [String] {
        let inputs: Set<String> = config.kind == .bert ? ["input_ids", "attention_mask", "token_type_ids"] : ["pixel_values"]
        return tensors.keys.filter { !inputs.contains($0) }.sorted()
    }

    /// The tokens an input file holds (BERT), to size the sequence before the model is built;
    /// nil for pixels.
    public static func tokenCount(in tensors: [String: InputTensor]) -> Int? {
        tensors["input_ids"].map { $0.values.count }
    }

    /// Builds the input from named tensors (batch 1: shape [1, S] or [S] for ids, [1, C, H, W]
    /// or [C, H, W] for pixels). BERT: `input_ids` with optional `attention_mask` (default all
    /// ones) and `token_type_ids` (default zeros), padded to `config.seqLen`; ViT: `pixel_values`.
    /// Other names are ignored.
    public static func from(tensors: [String: InputTensor], config: ModelConfig, source: String) throws -> ModelInput {
        func fail(_ reason: String) -> ModelDataError { .invalidInput(source: source, reason: reason) }
        func batchOfOne(_ name: String, _ t: InputTensor) throws -> [Int32] {
            // A float can hold an id only approximately (float16: every other id past 2048), so
            // an id tensor stored as floats is refused, never rounded.
            guard t.isFloat != true else { throw fail("\"\(name)\" is stored as floating point: ids, masks and token types must be integers (e.g. dtype int64)") }
            guard t.shape.count == 1 || (t.shape.count == 2 && t.shape[0] == 1) else {
                throw fail("\"\(name)\" has shape \(t.shape); expected [1, sequence] (batch size 1) or [sequence]")
            }
            return try t.values.enumerated().map { position, v in
                guard v.rounded() == v, abs(v) <= Double(Int32.max) else { throw fail("\"\(name)\"[\(position)] is not an integer (\(v))") }
                return Int32(v)
            }
        }
        let input: ModelInput
        switch config.kind {
        case .bert:
            guard let rawIds = tensors["input_ids"] else {
                throw fail("\"input_ids\" is missing (found: \(tensors.keys.sorted().joined(separator: ", ")))")
            }
            let ids = try batchOfOne("input_ids", rawIds)
            guard !ids.isEmpty, ids.count <= config.seqLen else {
                let limit = config.maxPositionEmbeddings
                let fix = ids.count > limit ? "the model's position limit is \(limit) tokens: truncate the input"
                                            : "raise --seq-len to \(ids.count) (at most \(limit))"
                throw fail("\"input_ids\" has \(ids.count) tokens; the model runs 1...\(config.seqLen) now: \(fix)")
            }
            var mask = [Int32](repeating: 1, count: ids.count)
            var types = [Int32](repeating: 0, count: ids.count)
            if let rawMask = tensors["attention_mask"] {
                mask = try batchOfOne("attention_mask", rawMask)
                guard mask.count == ids.count else { throw fail("\"attention_mask\" has \(mask.count) entries for \(ids.count) input ids") }
            }
            if let rawTypes = tensors["token_type_ids"] {
                types = try batchOfOne("token_type_ids", rawTypes)
                guard types.count == ids.count else { throw fail("\"token_type_ids\" has \(types.count) entries for \(ids.count) input ids") }
            }
            let padding = config.seqLen - ids.count
            input = .tokens(inputIds: ids + Array(repeating: 0, count: padding),
                            attentionMask: mask + Array(repeating: 0, count: padding),
                            tokenTypeIds: types + Array(repeating: 0, count: padding))
        case .vit:
            guard let raw = tensors["pixel_values"] else {
                throw fail("\"pixel_values\" is missing (found: \(tensors.keys.sorted().joined(separator: ", ")))")
            }
            let image = [config.numChannels, config.imageSize, config.imageSize]
            guard raw.shape == [1] + image || raw.shape == image else {
                throw fail("\"pixel_values\" must have shape \([1] + image) (batch size 1); got \(raw.shape)")
            }
            // An image processor's output is a few units from zero; values no image has are the input's problem, not the GPU's.
            if let i = raw.values.firstIndex(where: { !$0.isFinite || abs($0) > 1e4 }) {
                throw fail("\"pixel_values\"[\(i)] is \(raw.values[i]): pixel values must be finite and within ±10000 (an image processor's output)")
            }
            input = .pixels(raw.values.map(Float.init))
        }
        try input.validate(for: config, source: source)
        return input
    }
}
