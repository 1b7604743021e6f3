// WeightStore: every fp32 weight of one model under its canonical HF bare-model name.
// Read-only after creation, so one store can feed many contexts and threads at once.

import Dispatch

public final class WeightStore: Sendable {
    /// Where the weights came from (reported, and used in error messages).
    public enum Source: Sendable, Hashable, CustomStringConvertible {
        case seeded(UInt64)
        case file(path: String)

        public var description: String {
            switch self {
            case let .seeded(seed): return "seeded weights (seed \(seed))"
            case let .file(path): return path
            }
        }
    }

    public let config: ModelConfig
    public let source: Source
    let tensors: [String: WeightTensor]

    init(config: ModelConfig, source: Source, tensors: [String: WeightTensor]) {
        self.config = config
        self.source = source
        self.tensors = tensors
    }

    /// Canonical names of every tensor, in component order.
    public var names: [String] { config.parameters.map(\.name) }

    /// The tensor called `name` (canonical HF bare-model name, e.g.
    /// "encoder.layer.0.attention.self.query.weight").
    public func tensor(_ name: String) throws -> WeightTensor {
        guard let tensor = tensors[name] else {
            throw ModelDataError.missingTensor(path: source.description, name: name)
        }
        return tensor
    }

    /// The tensors `component` owns, in `parameters(in:)` order.
    public func tensors(of component: ModelComponent) throws -> [WeightTensor] {
        try component.parameterNames(config).map { try tensor($0) }
    }

    /// fp32 bytes of `component`'s weights (what a reload of it uploads).
    public func bytes(of component: ModelComponent) -> Int {
        component.parameterNames(config).reduce(0) { $0 + (tensors[$1]?.byteCount ?? 0) }
    }

    /// fp32 bytes of the whole model.
    public var totalBytes: Int { config.components.reduce(0) { $0 + bytes(of: $1) } }

    // MARK: - Seeded weights

    /// Deterministic weights with the real shapes: matrices, embeddings and biases
    /// ~ N(0, 0.02); LayerNorm gammas 1 + N(0, 0.05), betas N(0, 0.02), so swapped
    /// gamma/beta or a dropped bias shows up in any comparison.
    ///
    /// Each tensor is cut into fixed-size chunks, each with its own stream seeded from
    /// (seed, tensor name, chunk index): the bits depend on nothing else (not the thread
    /// count, not the other tensors), and a reduced-layer model gets the full model's layers.
    public static func seeded(config: ModelConfig, seed: UInt64) throws -> WeightStore {
        try config.validate()
        let specs = config.parameters
        let chunkSize = 1 << 18
        var chunkList: [SeededChunk] = []
        var buffers: [UnsafeMutablePointer<Float>] = []
        for (tensorIndex, spec) in specs.enumerated() {
            buffers.append(UnsafeMutablePointer<Float>.allocate(capacity: max(spec.count, 1)))
            var start = 0
            while start < spec.count {
                chunkList.append(SeededChunk(tensor: tensorIndex, start: start, count: min(chunkSize, spec.count - start)))
                start += chunkSize
            }
        }
        let chunks = chunkList
        let plan = SeededFillPlan(specs: specs, buffers: buffers, seed: seed)
        DispatchQueue.concurrentPerform(iterations: chunks.count) { index in
            let chunk = chunks[index]
            plan.fill(tensor: chunk.tensor, start: chunk.start, count: chunk.count)
        }
        var tensors: [String: WeightTensor] = [:]
        for (tensorIndex, spec) in specs.enumerated() {
            let storage = TensorStorage(taking: buffers[tensorIndex], count: spec.count)
            tensors[spec.name] = WeightTensor(name: spec.name, shape: spec.shape, storage: storage)
        }
        return WeightStore(config: config, source: .seeded(seed), tensors: tensors)
    }

    /// The same tensors (shared, not copied) under a reduced config: fewer layers and/or
    /// another BERT sequence length (see `ModelConfig.reduced`).
    public func reduced(layers: Int?, seqLen: Int?) throws -> WeightStore {
        try restricted(to: config.reduced(layers: layers, seqLen: seqLen))
    }

    /// The same tensors (shared, not copied) under `newConfig`, which must need only tensors
    /// this store has, with the same shapes (e.g. `config.reduced(...)` of this store's config).
    public func restricted(to newConfig: ModelConfig) throws -> WeightStore {
        try newConfig.validate()
        var kept: [String: WeightTensor] = [:]
        for spec in newConfig.parameters {
            let tensor = try tensor(spec.name)
            guard tensor.shape == spec.shape else {
                throw ModelDataError.shapeMismatch(path: source.description, name: spec.name, expected: spec.shape, found: tensor.shape)
            }
            kept[spec.name] = tensor
        }
        return WeightStore(config: newConfig, source: source, tensors: kept)
    }

    /// Builds a store from arrays (tests, tools). Every tensor `config` needs must be present
    /// with its shape; extra names are ignored.
    public static func fromArrays(config: ModelConfig, _ arrays: [String: [Float]], label: String = "in-memory weights") throws -> WeightStore {
        var tensors: [String: WeightTensor] = [:]
        for spec in config.parameters {
            guard let values = arrays[spec.name] else { throw ModelDataError.missingTensor(path: label, name: spec.name) }
            guard values.count == spec.count else {
                throw ModelDataError.shapeMismatch(path: label, name: spec.name, expected: spec.shape, found: [values.count])
            }
            let storage = TensorStorage.make(count: values.count) { buffer in
                _ = buffer.initialize(from: values)
            }
            tensors[spec.name] = WeightTensor(name: spec.name, shape: spec.shape, storage: storage)
        }
        return WeightStore(config: config, source: .file(path: label), tensors: tensors)
    }
}

private struct SeededChunk: Sendable {
    let tensor: Int
    let start: Int
    let count: Int
}

/// Shared, read-only description of a seeded fill; each chunk writes a disjoint range of
/// one buffer, so concurrent use is safe.
private struct SeededFillPlan: @unchecked Sendable {
    let specs: [ParameterSpec]
    let buffers: [UnsafeMutablePointer<Float>]
    let seed: UInt64

    func fill(tensor: Int, start: Int, count: Int) {
        let spec = specs[tensor]
        let stream = seed ^ stableHash(spec.name) ^ (UInt64(start) &* 0xD1B5_4A32_D192_ED03)
        var generator = Xoshiro256StarStar(seed: stream)
        let target = UnsafeMutableBufferPointer(start: buffers[tensor] + start, count: count)
        if Self.isLayerNormScale(spec.name) {
            generator.fillNormal(target, mean: 1, stddev: 0.05)
        } else {
            generator.fillNormal(target, mean: 0, stddev: 0.02)
        }
    }

    /// BERT's "*.LayerNorm.weight" and ViT's "*layernorm*.weight" are LayerNorm scales.
    static func isLayerNormScale(_ name: String) -> Bool {
        name.hasSuffix(".weight") && (name.contains("LayerNorm") || name.contains("layernorm"))
    }
}
