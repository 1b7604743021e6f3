import Foundation
import Testing
import Transformer
@testable import TransformerGPU
@testable import VulkanCompute

/// The GPU shards against the CPU reference on lavapipe, validation layer on.
@Suite(.serialized) struct GPUModelTests {
    static let lavapipe = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"

    /// A validated instance and a device + channel on the default physical device.
    static func openChannel() throws -> (VulkanInstance, Channel) {
        if ProcessInfo.processInfo.environment["VK_DRIVER_FILES"] == nil, FileManager.default.fileExists(atPath: lavapipe) {
            setenv("VK_DRIVER_FILES", lavapipe, 0)
        }
        let instance = try VulkanInstance(validation: true)
        let devices = try instance.physicalDevices()
        let (index, _) = try DeviceSelection().choose(from: devices.map(\.info))
        let device = try ComputeDevice(physical: devices[index], label: "test")
        return (instance, try Channel(device: device, label: "test"))
    }

    /// Destroys `channel`'s device first: the layer reports leaked objects at device
    /// destruction, so a check while it lives would miss them.
    static func expectClean(_ instance: VulkanInstance, destroying channel: Channel, sourceLocation: SourceLocation = #_sourceLocation) {
        channel.device.destroy(reason: "the test's end")
        let messages = instance.validationLog?.drain() ?? []
        #expect(messages.isEmpty, "validation: \(messages.map(\.description).joined(separator: "\n"))", sourceLocation: sourceLocation)
    }

    /// Small models with every feature: heads of 64, padding in the mask, pooler.
    static let tinyBERT = try! ModelConfig.bert(name: "tiny-bert", hiddenSize: 128, numLayers: 2, numHeads: 2,
                                                intermediateSize: 512, vocabSize: 1000, maxPositionEmbeddings: 64,
                                                typeVocabSize: 2, seqLen: 24)
    static let tinyViT = try! ModelConfig.vit(name: "tiny-vit", hiddenSize: 128, numLayers: 2, numHeads: 2,
                                              intermediateSize: 512, imageSize: 64, patchSize: 16, numChannels: 3)

    /// Runs the whole model on the GPU, every component in one shard and in one shard each.
    func compareWholeModel(_ config: ModelConfig, family: GEMMFamily? = nil, attentionQueries: Int? = nil,
                           attentionKeyBlock: Int? = nil, seed: UInt64 = 7,
                           input: ModelInput? = nil) throws {
        let (instance, channel) = try Self.openChannel()
        do {
            let weights = try WeightStore.seeded(config: config, seed: seed)
            let cpu = try CPUReference(weights: weights)
            let input = input ?? ModelInput.seeded(config: config, seed: seed)
            let reference = try cpu.forward(input)

            let kernels = try GPUKernels(device: channel.device, config: config, family: family, attentionQueries: attentionQueries,
                                         attentionKeyBlock: attentionKeyBlock)
            let context = try GPUModelContext(channel: channel, config: config, kernels: kernels)
            for c in config.components { try context.load(c, from: weights) }
            #expect(context.weightBytes == weights.totalBytes)

            var state = try ActivationState.initial(input, config: config)
            try context.run(config.components, state: &state)
            let (hidden, pooled) = state.output.compared(to: reference)
            #expect(hidden.passes(), "\(config.name) [\(kernels.family)] last_hidden_state: \(hidden)")
            #expect(pooled?.passes() ?? true, "\(config.name) [\(kernels.family)] pooler_output: \(String(describing: pooled))")

            // Shard by shard, the hidden state crossing the host between components.
            var stepwise = try ActivationState.initial(input, config: config)
            for c in config.components { try context.run([c], state: &stepwise) }
            #expect(stepwise.output.compared(to: reference).lastHiddenState.passes())
        }
        Self.expectClean(instance, destroying: channel)
    }

    @Test(arguments: GEMMFamily.allCases)
    func tinyBERTMatchesTheCPUReference(family: GEMMFamily) throws {
        try compareWholeModel(Self.tinyBERT, family: family)
    }

    @Test(arguments: GEMMFamily.allCases)
    func tinyViTMatchesTheCPUReference(family: GEMMFamily) throws {
        try compareWholeModel(Self.tinyViT, family: family)
    }

    /// bert-base's real widths (768, 3072, 12 heads, vocabulary 30522), one layer, 128 tokens.
    @Test func bertBaseOneLayerMatchesTheCPUReference() throws {
        try compareWholeModel(try ModelConfig.bertBaseUncased.reduced(layers: 1, seqLen: 128), family: .texel)
    }

    /// The whole bert-base-uncased: 12 layers, 128 tokens, 110 M parameters (~3 s on lavapipe).
    @Test func bertBaseFullSizeMatchesTheCPUReference() throws {
        try compareWholeModel(ModelConfig.bertBaseUncased)  // the device's own GEMM family
    }

    /// The attention core's running-max softmax, whatever the mask: keys masked first (before any
    /// maximum is known), in the middle and last; every lane fetching each key (GPUs: 1 query,
    /// blocks of 1 key) and keys shuffled to every lane in blocks (lavapipe: 2 queries, blocks of
    /// `lanes`, and other counts), on a sequence that is no multiple of the queries a workgroup
    /// takes, nor of the key block (45 tokens: the last block is partial).
    @Test(arguments: [(1, 1), (2, 1), (1, 16), (2, 16), (4, 4), (3, 8), (7, 5)])
    func attentionHandlesMasksAnywhere(queries: Int, keyBlock: Int) throws {
        let config = try ModelConfig.bertBaseUncased.reduced(layers: 1, seqLen: 45)
        var generator = Xoshiro256StarStar(seed: 11)
        let ids = (0..<45).map { _ in Int32(generator.nextInt(below: config.vocabSize)) }
        let mask = (0..<45).map { i -> Int32 in i < 5 || (20..<24).contains(i) || i >= 41 ? 0 : 1 }
        let input = ModelInput.tokens(inputIds: ids, attentionMask: mask, tokenTypeIds: [Int32](repeating: 0, count: 45))
        try compareWholeModel(config, family: .texel, attentionQueries: queries, attentionKeyBlock: keyBlock, input: input)
    }

    /// The texel tile's rows follow the sequence: 32 for BERT's 128 tokens (4 full groups), 50 for
    /// ViT's 197 (4 groups, where 32 would take 7), a sequence shorter than 32 in one tile of its
    /// own height, and never a tile lavapipe compiles for long.
    @Test func texelRowsFollowTheSequence() {
        #expect(GEMMFamily.texelRows(covering: 128, lanes: 16) == 32)
        #expect(GEMMFamily.texelRows(covering: 197, lanes: 16) == 50)
        #expect(GEMMFamily.texelRows(covering: 197, lanes: 8) == 50)
        for lanes in [4, 8, 16, 32] {
            for rows in [1, 8, 17, 24, 31, 32, 45, 64, 100, 128, 197, 256, 512] {
                let tile = GEMMFamily.texelRows(covering: rows, lanes: lanes)
                #expect(rows < 32 ? tile == rows : [32, 50].contains(tile), "\(rows) rows at \(lanes) lanes: \(tile)")
            }
        }
    }

    /// A sequence shorter than a workgroup takes shapes the kernels to it (a tile of its rows, no
    /// more queries per invocation than it fills, a key block no longer than it: less to compile,
    /// no work past its end), and they compute the reference's numbers, with keys masked too.
    @Test(arguments: [1, 3, 8, 13])
    func shortSequencesShapeTheKernelsToThem(tokens: Int) throws {
        let config = try ModelConfig.bertBaseUncased.reduced(layers: 1, seqLen: tokens)
        let (instance, channel) = try Self.openChannel()
        do {
            let kernels = try GPUKernels(device: channel.device, config: config, family: .texel)
            let lanes = kernels.lanes
            #expect(kernels.texelRows == tokens)
            #expect(kernels.attentionKeyBlock == min(lanes, tokens), "\(kernels.summary)")
            let chosen = GPUKernels.defaultAttentionQueries(channel.device.physical.info)
            #expect(kernels.attentionQueries == min(chosen, (tokens + lanes - 1) / lanes), "\(kernels.summary)")
        }
        Self.expectClean(instance, destroying: channel)
        var generator = Xoshiro256StarStar(seed: UInt64(tokens))
        let ids = (0..<tokens).map { _ in Int32(generator.nextInt(below: config.vocabSize)) }
        let mask = (0..<tokens).map { i -> Int32 in i == 0 || i % 3 != 2 ? 1 : 0 }
        let input = ModelInput.tokens(inputIds: ids, attentionMask: mask, tokenTypeIds: [Int32](repeating: 0, count: tokens))
        try compareWholeModel(config, family: .texel, input: input)
    }

    /// vit-base's real widths and all 197 tokens, one layer.
    @Test func vitBaseOneLayerMatchesTheCPUReference() throws {
        try compareWholeModel(try ModelConfig.vitBasePatch16_224.reduced(layers: 1, seqLen: nil), family: .texel)
    }

    /// Each GEMM family and epilogue against a CPU loop, on shapes that are not tile multiples.
    @Test(arguments: GEMMFamily.allCases)
    func gemmEpiloguesMatchACPULoop(family: GEMMFamily) throws {
        let (instance, channel) = try Self.openChannel()
        do {
            let config = Self.tinyBERT
            let kernels = try GPUKernels(device: channel.device, config: config, family: family)
            // Odd counts of K texels (68, 12, 4), N short of a lane's run of 4 columns (20); the
            // tiled family also takes N = 5, which the texel family refuses (below).
            let shapes = [(37, 300, 68), (1, 256, 128), (130, 40, 12), (5, 20, 4)] + (family == .tiled ? [(3, 5, 8)] : [])
            for (m, n, k) in shapes {
                var rng = Xoshiro256StarStar(seed: UInt64(m * n * k))
                let a = (0..<m * k).map { _ in rng.nextSignedUnitFloat() }, w = (0..<n * k).map { _ in rng.nextSignedUnitFloat() }
                let bias = (0..<n).map { _ in rng.nextSignedUnitFloat() }, c0 = (0..<m * n).map { _ in rng.nextSignedUnitFloat() }
                let linear = Numerics.linear(a, inFeatures: k, weight: w, bias: bias, outFeatures: n)
                for epilogue in GEMMEpilogue.allCases {
                    var buffers = try [a, w, bias, c0].map { values in
                        let b = try DeviceBuffer(device: channel.device, size: values.count * 4, label: "gemm")
                        try b.write(values, via: channel)
                        return b
                    }
                    buffers[1] = try kernels.weightBuffer(w, rows: n, k: k, label: "W", via: channel)  // the family's row pitch
                    let scratch = try DeviceBuffer(device: channel.device, size: m * n * 4, label: "scratch")
                    try channel.run(kernels.gemm(buffers[0], buffers[1], buffers[2], buffers[3], m: m, n: n, k: k, epilogue,
                                                 scratch: scratch, label: "gemm"))
                    let got = try buffers[3].readFloats(m * n, via: channel)
                    let expected: [Float] = switch epilogue {
                    case .none: linear
                    case .gelu: linear.map(Numerics.gelu)
                    case .residual: zip(linear, c0).map(+)
                    case .tanh: linear.map { tanh($0) }
                    }
                    let worst = Numerics.maxAbsDifference(got, expected)
                    #expect(worst <= 2e-5, "\(family) \(epilogue) \(m)×\(n)×\(k): max abs \(worst)")
                }
            }
            if family == .texel {
                let b = try DeviceBuffer(device: channel.device, size: 64, label: "any")
                #expect(throws: VulkanError.self) { try kernels.gemm(b, b, b, b, m: 1, n: 5, k: 4, label: "N = 5") }
                #expect(throws: VulkanError.self) { try kernels.gemm(b, b, b, b, m: 1, n: 4, k: 6, label: "K = 6") }
            }
        }
        Self.expectClean(instance, destroying: channel)
    }

    /// Exactly the Linear weights (and ViT's patch projection) get the GEMM row pitch; embedding
    /// tables, LayerNorms, biases and ViT's position/CLS tensors keep theirs.
    @Test func gemmWeightsAreTheLinearWeights() {
        for config in [ModelConfig.bertBaseUncased, ModelConfig.vitBasePatch16_224] {
            let gemm = config.parameters.filter { ComponentWeights.isGEMMWeight($0.name, shape: $0.shape) }.map(\.name)
            let perLayer = ["query", "key", "value", "output.dense", "intermediate.dense", "output.dense"]
            #expect(gemm.count == config.numLayers * perLayer.count + 1 + (config.kind == .vit ? 1 : 0), "\(gemm)")
            #expect(gemm.allSatisfy { !$0.contains("LayerNorm") && !$0.contains("layernorm") && !$0.hasSuffix("_embeddings.weight") })
            #expect(gemm.contains("pooler.dense.weight"))
        }
    }

    @Test func aWeightInAnotherLayoutIsRefusedWhereItIsUsed() throws {
        let (instance, channel) = try Self.openChannel()
        do {
            let config = Self.tinyBERT
            let kernels = try GPUKernels(device: channel.device, config: config, family: .texel)
            let weights = try ComponentWeights(.attention(layer: 0), from: try WeightStore.seeded(config: config, seed: 1),
                                               kernels: kernels, channel: channel)
            let name = "encoder.layer.0.attention.self.query.weight"
            let h = config.hiddenSize
            #expect(throws: Never.self) { try weights.gemmWeight(name, pitch: GEMMFamily.texel.weightPitch(k: h)) }
            #expect(throws: GPUModelError.self) { try weights.gemmWeight(name, pitch: h) }
            #expect(throws: GPUModelError.self) { try weights.gemmWeight("encoder.layer.0.attention.self.query.bias", pitch: h) }
        }
        Self.expectClean(instance, destroying: channel)
    }

    @Test func aShardWithAnUnloadedComponentFailsWithATypedError() throws {
        let (instance, channel) = try Self.openChannel()
        do {
            let config = Self.tinyBERT
            let weights = try WeightStore.seeded(config: config, seed: 1)
            let context = try GPUModelContext(channel: channel, config: config,
                                              kernels: try GPUKernels(device: channel.device, config: config))
            for c in config.components { try context.load(c, from: weights) }
            context.unload(.attention(layer: 1))
            var state = try ActivationState.initial(ModelInput.seeded(config: config, seed: 1), config: config)
            #expect(throws: GPUModelError.self) { try context.run(config.components, state: &state) }
            let stats = try context.load(.attention(layer: 1), from: weights)
            #expect(stats.bytes == ModelComponent.attention(layer: 1).byteSize(in: config))
            try context.run(config.components, state: &state)
        }
        Self.expectClean(instance, destroying: channel)
    }
}

