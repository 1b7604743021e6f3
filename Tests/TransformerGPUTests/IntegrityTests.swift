import Foundation
import Testing
import Transformer
@testable import TransformerGPU
@testable import VulkanCompute

/// Silent-data-corruption checks on the device (lavapipe, validation layer on): the Linear
/// checksums stay inside their rounding bound on every correct forward and catch corrupted
/// weights; scrubbing finds every corrupted row; corruption is injected where the kernels read.
@Suite(.serialized) struct IntegrityTests {
    typealias Model = (instance: VulkanInstance, channel: Channel, config: ModelConfig, weights: WeightStore, context: GPUModelContext)

    static func model(_ config: ModelConfig, family: GEMMFamily? = nil, weightScale: Float = 1, seed: UInt64 = 3,
                      checks: IntegrityChecks = .all) throws -> Model {
        let (instance, channel) = try GPUModelTests.openChannel()
        var weights = try WeightStore.seeded(config: config, seed: seed)
        if weightScale != 1 {
            var arrays: [String: [Float]] = [:]
            for spec in config.parameters { arrays[spec.name] = try weights.tensor(spec.name).toArray().map { $0 * weightScale } }
            weights = try WeightStore.fromArrays(config: config, arrays)
        }
        let kernels = try GPUKernels(device: channel.device, config: config, family: family, integrity: checks)
        let context = try GPUModelContext(channel: channel, config: config, kernels: kernels)
        for c in config.components { try context.load(c, from: weights) }
        return (instance, channel, config, weights, context)
    }

    /// Runs every component; returns the checksum finding, if any, and the worst ratio to a bound.
    static func forward(_ m: Model, _ input: ModelInput) throws -> (finding: CorruptionFinding?, worst: Double, output: ModelOutput?) {
        var state = try ActivationState.initial(input, config: m.config)
        let before = state.hidden
        do {
            try m.context.run(m.config.components, state: &state)
        } catch let finding as CorruptionFinding {
            #expect(state.hidden == before, "a run that failed its checksum changed the state")
            return (finding, Numerics.worst(try m.context.checksumRatios(of: m.config.components).values), nil)
        }
        return (nil, Numerics.worst(try m.context.checksumRatios(of: m.config.components).values), state.output)
    }

    /// Correct but hard inputs: both GEMM families; 512 tokens; ViT; weights ten times the usual
    /// scale (activations far larger than a trained model's); ViT's pixels a hundred times
    /// larger. No check may fail, and every one must have been made.
    @Test(arguments: [0, 1, 2, 3, 4, 5, 6])
    func checksumsHoldOnEveryCorrectForward(case index: Int) throws {
        let tiny = GPUModelTests.tinyBERT, vit = GPUModelTests.tinyViT
        let cases: [(String, ModelConfig, GEMMFamily?, Float, Float)] = [
            ("tiny BERT, texel", tiny, .texel, 1, 1), ("tiny BERT, tiled", tiny, .tiled, 1, 1),
            ("tiny ViT, tiled", vit, .tiled, 1, 1),
            ("bert-base, one layer, 512 tokens", try ModelConfig.bertBaseUncased.reduced(layers: 1, seqLen: 512), nil, 1, 1),
            ("vit-base, one layer", try ModelConfig.vitBasePatch16_224.reduced(layers: 1, seqLen: nil), nil, 1, 1),
            ("tiny BERT, weights ×10", tiny, nil, 10, 1), ("tiny ViT, pixels ×100", vit, nil, 1, 100),
        ]
        let (name, config, family, scale, pixels) = cases[index]
        let m = try Self.model(config, family: family, weightScale: scale)
        do {
            for seed in [UInt64(1), 2, 3] {
                var input = ModelInput.seeded(config: config, seed: seed)
                if pixels != 1, case let .pixels(values) = input { input = .pixels(values.map { $0 * pixels }) }
                let (finding, worst, _) = try Self.forward(m, input)
                #expect(finding == nil, "\(name), seed \(seed): \(finding.map(String.init(describing:)) ?? "")")
                // Within half the bound (a margin), and not vacuously far below it (a bound ten
                // times looser would catch far less: theChecksumsCatch… below).
                #expect(worst > 0.01 && worst < 0.5, "\(name), seed \(seed): worst ratio \(worst)")
                let checked = try m.context.checksumRatios(of: config.components).count
                #expect(checked == config.parameters.filter { ComponentWeights.isGEMMWeight($0.name, shape: $0.shape) }.count)
            }
        }
        GPUModelTests.expectClean(m.instance, destroying: m.channel)
    }

    /// Gross and mixed corruption of every Linear of a layer, on both families: caught by the
    /// checksum, which names the component and the tensor; the state is left as it came.
    @Test(arguments: GEMMFamily.allCases)
    func aCorruptedLinearIsCaughtByItsChecksum(family: GEMMFamily) throws {
        let m = try Self.model(GPUModelTests.tinyBERT, family: family)
        do {
            let input = ModelInput.seeded(config: m.config, seed: 5)
            let linears = m.config.parameters.filter { ComponentWeights.isGEMMWeight($0.name, shape: $0.shape) }.map(\.name)
            for (i, tensor) in linears.enumerated() {
                let component = m.config.components.first { $0.parameterNames(m.config).contains(tensor) }!
                for magnitude in [CorruptionMagnitude.gross, .mixed] {
                    let record = try m.context.corrupt(component, CorruptionSpec(magnitude: magnitude, persistence: .transient,
                                                                                 seed: UInt64(i * 7 + 1), tensor: tensor))
                    #expect(record.tensor == tensor && record.elements == 64)
                    let (finding, _, _) = try Self.forward(m, input)
                    #expect(finding?.detector == .checksum, "\(family) \(magnitude) \(tensor): \(record.summary)")
                    #expect(finding?.tensor == tensor && finding?.component == component.id, "\(String(describing: finding))")
                }
            }
            // Transient: put back after the run that read it.
            #expect(try Self.forward(m, input).finding == nil)
            #expect(try m.context.scrub().findings.isEmpty)
        }
        GPUModelTests.expectClean(m.instance, destroying: m.channel)
    }

    /// Every kind of tensor (a GEMM weight in the texel kernel's row order, a bias, a LayerNorm,
    /// an embedding table), even subtly corrupted: the scrub names the tensor and the row.
    @Test(arguments: GEMMFamily.allCases)
    func scrubbingFindsEveryCorruptedRow(family: GEMMFamily) throws {
        let m = try Self.model(GPUModelTests.tinyBERT, family: family)
        do {
            #expect(try m.context.scrub().findings.isEmpty)
            let targets: [(ModelComponent, String)] = [
                (.attention(layer: 1), "encoder.layer.1.attention.self.value.weight"),
                (.feedForward(layer: 0), "encoder.layer.0.intermediate.dense.weight"),
                (.feedForward(layer: 0), "encoder.layer.0.output.dense.bias"),
                (.attention(layer: 0), "encoder.layer.0.attention.output.LayerNorm.weight"),
                (.embeddings, "embeddings.word_embeddings.weight"),
                (.pooler, "pooler.dense.weight"),
            ]
            for (seed, (component, tensor)) in targets.enumerated() {
                for magnitude in CorruptionMagnitude.allCases {
                    let record = try m.context.corrupt(component, CorruptionSpec(magnitude: magnitude, seed: UInt64(seed), tensor: tensor))
                    let report = try m.context.scrub()
                    #expect(report.findings.count == 1 && report.findings.first?.tensor == tensor, "\(tensor): \(report.findings)")
                    #expect(report.findings.first?.detail.contains("(row \(record.row))") == true,
                            "\(tensor) row \(record.row): \(report.findings.first?.detail ?? "")")
                    #expect(report.findings.first?.component == component.id)
                    try m.context.load(component, from: m.weights)  // restored from the source
                    #expect(try m.context.scrub().findings.isEmpty)
                }
            }
        }
        GPUModelTests.expectClean(m.instance, destroying: m.channel)
    }

    /// What a corruption does is what its record says: the block's elements, bits from the
    /// magnitude's range, every value still finite, written where the kernel reads that row.
    @Test func aCorruptionIsTheBlockItsRecordDescribes() throws {
        let m = try Self.model(GPUModelTests.tinyBERT, family: .texel)
        do {
            let tensor = "encoder.layer.0.intermediate.dense.weight"
            let source = try m.weights.tensor(tensor).toArray()
            for (seed, magnitude) in CorruptionMagnitude.allCases.enumerated() {
                let record = try m.context.corrupt(.feedForward(layer: 0), CorruptionSpec(magnitude: magnitude, seed: UInt64(seed), tensor: tensor))
                let ranges: [CorruptionMagnitude: ClosedRange<Int>] = [.subtle: 0...15, .gross: 0...29, .mixed: 0...31]
                #expect(record.bitPositions.allSatisfy { ranges[magnitude]!.contains($0) && $0 != 30 }, "\(record.bitPositions)")
                if magnitude == .gross { #expect(record.bitPositions.contains { (23...29).contains($0) }) }
                #expect(record.flips >= record.elements && record.column % 64 == 0)
                let buffer = try #require(m.context.lock.withLock { m.context.weights[.feedForward(layer: 0)] })[tensor]
                var words = [UInt32](repeating: 0, count: record.elements)
                try words.withUnsafeMutableBytes { try buffer.read(into: $0, offset: record.deviceOffset, via: m.channel) }
                let k = m.config.hiddenSize
                for (i, word) in words.enumerated() {
                    let original = source[record.row * k + record.column + i]
                    #expect(Float(bitPattern: word).isFinite && word != original.bitPattern)
                }
                try m.context.load(.feedForward(layer: 0), from: m.weights)
            }
        }
        GPUModelTests.expectClean(m.instance, destroying: m.channel)
    }

    /// The bound is tight enough where it matters: subtle corruptions (low mantissa bits) of the
    /// Linears of bert-base's last layer, the ones whose change reaches the output least damped,
    /// are caught whenever they change the output beyond the pool's tolerance — and some do (a
    /// bound ten times looser misses them).
    @Test func theChecksumsCatchEverySubtleCorruptionThatChangesTheOutput() throws {
        let config = try ModelConfig.bertBaseUncased.reduced(layers: 2, seqLen: 128)
        let m = try Self.model(config, checks: IntegrityChecks(checksums: true))
        do {
            let input = ModelInput.seeded(config: config, seed: 1)
            let reference = try CPUReference(weights: m.weights).forward(input)
            var changed = 0, caught = 0, missed: [String] = []
            for seed in 0..<36 as Range<UInt64> {
                let component: ModelComponent = seed % 3 == 0 ? .attention(layer: 1) : .feedForward(layer: 1)
                let record = try m.context.corrupt(component, CorruptionSpec(magnitude: .subtle, persistence: .transient, seed: seed))
                var state = try ActivationState.initial(input, config: config)
                let stats = try m.context.run(config.components, state: &state, enforcingChecksums: false)
                guard !state.output.compared(to: reference).lastHiddenState.passes() else { continue }
                changed += 1
                if stats.checksumFinding != nil { caught += 1 } else { missed.append(record.summary) }
            }
            #expect(changed >= 2, "the test needs subtle corruptions that change the output (\(changed))")
            #expect(caught == changed, "missed: \(missed.joined(separator: "\n"))")
        }
        GPUModelTests.expectClean(m.instance, destroying: m.channel)
    }
}
