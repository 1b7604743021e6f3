// Seeded weights: deterministic, seed-dependent, real shapes, the intended distributions.

import Foundation
import Testing
import Transformer

@Suite struct SeededWeightsTests {
    @Test func sameSeedSameBits() throws {
        let config = try Tiny.bert()
        let a = try WeightStore.seeded(config: config, seed: 7)
        let b = try WeightStore.seeded(config: config, seed: 7)
        for name in a.names {
            let x = try a.tensor(name), y = try b.tensor(name)
            #expect(x.shape == y.shape)
            #expect(x.toArray().map(\.bitPattern) == y.toArray().map(\.bitPattern), "\(name)")
        }
    }

    @Test func differentSeedsDiffer() throws {
        let config = try Tiny.vit()
        let a = try WeightStore.seeded(config: config, seed: 1)
        let b = try WeightStore.seeded(config: config, seed: 2)
        for name in a.names {
            #expect(try a.tensor(name).toArray() != b.tensor(name).toArray(), "\(name)")
        }
    }

    @Test func shapesAndBytesFollowTheConfig() throws {
        let config = try Tiny.bert()
        let store = try WeightStore.seeded(config: config, seed: 3)
        for spec in config.parameters {
            let tensor = try store.tensor(spec.name)
            #expect(tensor.shape == spec.shape && tensor.count == spec.count && tensor.name == spec.name)
            #expect(!tensor.isMapped)
        }
        for component in config.components {
            #expect(store.bytes(of: component) == component.byteSize(in: config))
            #expect(try store.tensors(of: component).map(\.name) == component.parameterNames(config))
        }
        #expect(store.totalBytes == config.parameterCount * 4)
        let error = modelDataError { _ = try store.tensor("encoder.layer.9.output.dense.weight") }
        #expect(error?.description.contains("encoder.layer.9.output.dense.weight") == true)
    }

    /// A reduced model's layers are the full model's layers (tensors are seeded by name).
    @Test func reducedModelSharesLayers() throws {
        let full = try Tiny.bert()
        let reduced = try full.reduced(layers: 1, seqLen: 4)
        let a = try WeightStore.seeded(config: full, seed: 9)
        let b = try WeightStore.seeded(config: reduced, seed: 9)
        for name in b.names {
            #expect(try a.tensor(name).toArray() == b.tensor(name).toArray(), "\(name)")
        }
    }

    @Test func distributions() throws {
        // hidden 256 so the statistics are tight but generation stays cheap in debug.
        let config = try ModelConfig.bert(name: "stats", hiddenSize: 256, numLayers: 1, numHeads: 4, intermediateSize: 512,
                                          vocabSize: 300, maxPositionEmbeddings: 16, typeVocabSize: 2, seqLen: 8)
        let store = try WeightStore.seeded(config: config, seed: 5)
        func stats(_ name: String) throws -> (mean: Double, std: Double) {
            let values = try store.tensor(name).toArray().map(Double.init)
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
            return (mean, variance.squareRoot())
        }
        let matrix = try stats("encoder.layer.0.intermediate.dense.weight")  // 131072 values
        #expect(abs(matrix.mean) < 0.001 && abs(matrix.std - 0.02) < 0.001)
        let gamma = try stats("encoder.layer.0.output.LayerNorm.weight")
        #expect(abs(gamma.mean - 1) < 0.02 && abs(gamma.std - 0.05) < 0.01)
        let beta = try stats("encoder.layer.0.output.LayerNorm.bias")
        #expect(abs(beta.mean) < 0.01 && beta.std > 0.01)  // not zero: a gamma/beta swap must show
        let bias = try stats("encoder.layer.0.attention.self.query.bias")
        #expect(bias.std > 0.01)  // not zero: a dropped bias must show
    }
}
