// Shared fixtures: tiny configs that keep the debug-build suite fast, and temp directories.

import Foundation
import Transformer

enum Tiny {
    /// BERT: hidden 32, 2 heads of 16, 2 layers, FFN 64, vocab 120, 16 positions, run at 8.
    static func bert(seqLen: Int = 8, hasPooler: Bool = true) throws -> ModelConfig {
        try .bert(name: "tiny-bert", hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 64,
                  vocabSize: 120, maxPositionEmbeddings: 16, typeVocabSize: 2, seqLen: seqLen, hasPooler: hasPooler)
    }

    /// ViT: 32×32 image, 16×16 patches → 4 patches + CLS = 5 tokens, hidden 32, 2 heads.
    static func vit(hasPooler: Bool = true) throws -> ModelConfig {
        try .vit(name: "tiny-vit", hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 64,
                 imageSize: 32, patchSize: 16, numChannels: 3, hasPooler: hasPooler)
    }
}

/// A fresh directory under the system temp folder, removed when the value is released.
final class TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("transformer-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func subdirectory(_ name: String) throws -> URL {
        let sub = url.appendingPathComponent(name, isDirectory: true)
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        return sub
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// The thrown error as a ModelDataError, or nil if nothing (or something else) was thrown.
func modelDataError(_ body: () throws -> Void) -> ModelDataError? {
    do {
        try body()
        return nil
    } catch let error as ModelDataError {
        return error
    } catch {
        return nil
    }
}

func modelUsageError(_ body: () throws -> Void) -> ModelUsageError? {
    do {
        try body()
        return nil
    } catch let error as ModelUsageError {
        return error
    } catch {
        return nil
    }
}
