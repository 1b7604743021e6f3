// The proof the oracle is right: the fp32 CPU forward against an independent float64
// re-implementation (NaiveReference) on tiny BERT and ViT configs, to 1e-5 max abs.

import Foundation
import Testing
import Transformer

@Suite struct GoldenForwardTests {
    private func maxAbs(_ a: [Float], _ b: [Double]) -> Double { Numerics.worstAbsDifference(a, b) }

    /// Seeded weights with every non-LayerNorm tensor multiplied by `factor`. At factor 1
    /// (std 0.02) a tiny model's activations are so small that tanh-GELU or a wrong eps
    /// hide below 1e-5; at 8 pre-activations are O(1) and those bugs show.
    private func store(_ config: ModelConfig, seed: UInt64, factor: Float) throws -> WeightStore {
        let seeded = try WeightStore.seeded(config: config, seed: seed)
        guard factor != 1 else { return seeded }
        var arrays: [String: [Float]] = [:]
        for name in seeded.names {
            let isNorm = name.contains("LayerNorm") || name.contains("layernorm")
            arrays[name] = try seeded.tensor(name).toArray().map { isNorm ? $0 : $0 * factor }
        }
        return try WeightStore.fromArrays(config: config, arrays)
    }

    private func check(_ config: ModelConfig, input: ModelInput, seed: UInt64) throws {
        for factor: Float in [1, 8] {
            try check(config, input: input, store: try store(config, seed: seed, factor: factor))
        }
    }

    private func check(_ config: ModelConfig, input: ModelInput, store: WeightStore) throws {
        let output = try CPUReference(weights: store).forward(input)
        let golden = try NaiveReference(store: store).forward(input)

        #expect(output.lastHiddenState.count == config.sequenceLength * config.hiddenSize)
        let hiddenError = maxAbs(output.lastHiddenState, golden.lastHiddenState)
        #expect(hiddenError <= 1e-5, "last_hidden_state max abs error \(hiddenError)")
        // Outputs after a LayerNorm are O(1); a near-zero state would make the check vacuous.
        let scale = golden.lastHiddenState.map(abs).max() ?? 0
        #expect(scale > 0.5)

        if config.hasPooler {
            let pooled = try #require(output.pooledOutput)
            let pooledError = maxAbs(pooled, try #require(golden.pooled))
            #expect(pooledError <= 1e-5, "pooler_output max abs error \(pooledError)")
        } else {
            #expect(output.pooledOutput == nil)
        }
    }

    @Test func bertMatchesFloat64Reference() throws {
        let config = try Tiny.bert()
        // 5 real tokens, 3 padding positions (mask 0) whose rows are still computed.
        let input = ModelInput.tokens(inputIds: [101, 7, 55, 119, 102, 0, 0, 0],
                                      attentionMask: [1, 1, 1, 1, 1, 0, 0, 0],
                                      tokenTypeIds: [0, 0, 0, 1, 1, 0, 0, 0])
        try check(config, input: input, seed: 11)
    }

    @Test func bertSeededInputMatchesFloat64Reference() throws {
        let config = try Tiny.bert(seqLen: 16)
        try check(config, input: .seeded(config: config, seed: 3), seed: 12)
    }

    @Test func bertWithoutPoolerMatches() throws {
        let config = try Tiny.bert(hasPooler: false)
        try check(config, input: .seeded(config: config, seed: 4), seed: 13)
    }

    @Test func vitMatchesFloat64Reference() throws {
        let config = try Tiny.vit()
        try check(config, input: .seeded(config: config, seed: 5), seed: 14)
    }

    @Test func vitWithoutPoolerMatches() throws {
        let config = try Tiny.vit(hasPooler: false)
        try check(config, input: .seeded(config: config, seed: 6), seed: 15)
    }

    /// Masking touches keys only: whatever sits in padded positions, the real tokens'
    /// rows and the pooled output are bit-for-bit the same.
    @Test func paddedTokensDoNotLeakIntoRealRows() throws {
        let config = try Tiny.bert()
        let reference = try CPUReference(weights: try .seeded(config: config, seed: 21))
        let mask: [Int32] = [1, 1, 1, 1, 0, 0, 0, 0]
        let a = try reference.forward(.tokens(inputIds: [101, 5, 6, 102, 0, 0, 0, 0], attentionMask: mask,
                                              tokenTypeIds: [0, 0, 0, 0, 0, 0, 0, 0]))
        let b = try reference.forward(.tokens(inputIds: [101, 5, 6, 102, 77, 3, 99, 1], attentionMask: mask,
                                              tokenTypeIds: [0, 0, 0, 0, 1, 1, 0, 1]))
        let realRows = 4 * config.hiddenSize
        #expect(Array(a.lastHiddenState[..<realRows]) == Array(b.lastHiddenState[..<realRows]))
        #expect(a.pooledOutput == b.pooledOutput)
        #expect(a.lastHiddenState != b.lastHiddenState)  // the pad rows themselves differ
    }

    /// Running components one by one (as shards on different contexts do, with the state
    /// copied between them) gives exactly the forward's result.
    @Test(arguments: [true, false])
    func componentsOneByOneEqualForward(bert: Bool) throws {
        let config = try bert ? Tiny.bert() : Tiny.vit()
        let reference = try CPUReference(weights: try .seeded(config: config, seed: 31))
        let input = ModelInput.seeded(config: config, seed: 32)
        let whole = try reference.forward(input)

        var state = try ActivationState.initial(input, config: config)
        let plan = try ShardPlan.make(.attentionFeedForward, config: config, shardCount: 3)
        for shard in plan.shards {
            let copied = state  // what crossing to another context does
            state = copied
            try reference.run(shard.components, state: &state)
        }
        #expect(state.output == whole)
    }

    /// One CPUReference shared by several threads (as several WebNN contexts do) gives each
    /// the same bits as a lone call.
    @Test func concurrentForwardsAgree() throws {
        let config = try Tiny.bert(seqLen: 16)
        let reference = try CPUReference(weights: try .seeded(config: config, seed: 51))
        let inputs = (0..<4).map { ModelInput.seeded(config: config, seed: UInt64($0)) }
        let expected = try inputs.map { try reference.forward($0) }
        let results = ResultSlots(count: inputs.count * 3)
        DispatchQueue.concurrentPerform(iterations: inputs.count * 3) { index in
            results.set(index, try? reference.forward(inputs[index % inputs.count]))
        }
        for index in 0..<inputs.count * 3 {
            #expect(results.get(index) == expected[index % inputs.count])
        }
    }

    @Test func stateMismatchesAreTypedErrors() throws {
        let config = try Tiny.bert()
        let reference = try CPUReference(weights: try .seeded(config: config, seed: 41))
        var state = try ActivationState.initial(.seeded(config: config, seed: 1), config: config)
        // Attention before the embeddings: no hidden state yet.
        #expect(modelUsageError { try reference.run(.attention(layer: 0), state: &state) } != nil)
        // A layer the model does not have.
        try reference.run(.embeddings, state: &state)
        #expect(modelUsageError { try reference.run(.feedForward(layer: 9), state: &state) } != nil)
        // Corrupted input inside the state.
        state.input = .tokens(inputIds: [Int32](repeating: 500, count: 8), attentionMask: [Int32](repeating: 1, count: 8),
                              tokenTypeIds: [Int32](repeating: 0, count: 8))
        #expect(modelDataError { try reference.run(.embeddings, state: &state) } != nil)
        // The wrong kind of input for the model.
        #expect(modelDataError { _ = try reference.forward(.pixels([1, 2, 3])) } != nil)
    }
}

/// Thread-safe result slots for the concurrency test.
private final class ResultSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [ModelOutput?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: ModelOutput?) { lock.withLock { slots[index] = value } }
    func get(_ index: Int) -> ModelOutput? { lock.withLock { slots[index] } }
}
