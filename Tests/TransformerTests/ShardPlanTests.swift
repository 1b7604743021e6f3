// ShardPlan: every type and several counts cover every component exactly once, in order.

import Foundation
import Testing
import Transformer

@Suite struct ShardPlanTests {
    private let configs = [ModelConfig.bertBaseUncased, .vitBasePatch16_224]

    @Test(arguments: ShardType.allCases)
    func everyComponentExactlyOnceInOrder(type: ShardType) throws {
        for config in configs {
            let maximum = type.maximumShards(for: config)
            for count in Set([1, 2, 3, 4, 5, 7, maximum - 1, maximum]) where count >= 1 && count <= maximum {
                let plan = try ShardPlan.make(type, config: config, shardCount: count)
                #expect(plan.shards.count == count)
                #expect(plan.shards.flatMap(\.components) == config.components)
                #expect(plan.shards.map(\.index) == Array(0..<count))
                #expect(plan.shards.allSatisfy { !$0.components.isEmpty })
                let sizes = plan.shards.map { $0.components.count }
                #expect(sizes.max()! - sizes.min()! <= 4, "\(type) \(count): \(sizes)")  // roughly even
                try plan.validate(for: config)
            }
        }
    }

    @Test func maximumShardCounts() {
        let bert = ModelConfig.bertBaseUncased
        #expect(ShardType.layer.maximumShards(for: bert) == 12)
        #expect(ShardType.attentionFeedForward.maximumShards(for: bert) == 24)
        #expect(ShardType.component.maximumShards(for: bert) == 26)
    }

    @Test func layerPlanSplitsEvenly() throws {
        let plan = try ShardPlan.make(.layer, config: .bertBaseUncased, shardCount: 5)
        // 12 layers over 5 shards: 3, 3, 2, 2, 2.
        let layers = plan.shards.map { Set($0.components.compactMap(\.layer)).sorted() }
        #expect(layers == [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9], [10, 11]])
        #expect(plan.shards.first?.components.first == .embeddings)
        #expect(plan.shards.last?.components.last == .pooler)
        #expect(plan.description.contains("shard 0: embeddings, layer0-2"))
        #expect(plan.description.contains("shard 4: layer10-11, pooler"))
    }

    @Test func attentionFeedForwardSplitsInsideLayers() throws {
        let config = ModelConfig.bertBaseUncased
        let full = try ShardPlan.make(.attentionFeedForward, config: config, shardCount: 24)
        #expect(full.shards[0].components == [.embeddings, .attention(layer: 0)])
        #expect(full.shards[1].components == [.feedForward(layer: 0)])
        #expect(full.shards[23].components == [.feedForward(layer: 11), .pooler])
        // 24 blocks over 5 shards: 5, 5, 5, 5, 4 → the first boundary falls inside layer 2.
        let five = try ShardPlan.make(.attentionFeedForward, config: config, shardCount: 5)
        #expect(five.shards[0].components.last == .attention(layer: 2))
        #expect(five.shards[1].components.first == .feedForward(layer: 2))
        #expect(five.shards[1].description == "shard 1: layer2.feed_forward, layer3-4")
    }

    @Test func componentPlanOneShardPerComponent() throws {
        let config = ModelConfig.vitBasePatch16_224
        let plan = try ShardPlan.make(.component, config: config, shardCount: config.components.count)
        #expect(plan.shards.map(\.components) == config.components.map { [$0] })
        #expect(plan.shardIndex(of: .pooler) == config.components.count - 1)
        #expect(plan.shardIndex(of: .attention(layer: 0)) == 1)
    }

    @Test func impossibleCountsAreErrors() throws {
        let config = ModelConfig.bertBaseUncased
        #expect(modelUsageError { _ = try ShardPlan.make(.layer, config: config, shardCount: 0) }
            == .invalidShardCount(requested: 0, maximum: 12, type: "layer"))
        #expect(modelUsageError { _ = try ShardPlan.make(.layer, config: config, shardCount: 13) } != nil)
        #expect(modelUsageError { _ = try ShardPlan.make(.attentionFeedForward, config: config, shardCount: 25) } != nil)
        #expect(modelUsageError { _ = try ShardPlan.make(.component, config: config, shardCount: 27) } != nil)
        #expect(modelUsageError { _ = try ShardType(parsing: "rows") }?.description.contains("attention_feedforward") == true)
        #expect(try ShardType(parsing: "attention_feedforward") == .attentionFeedForward)
    }

    @Test func planRoundTripsThroughJSONAndValidates() throws {
        let config = ModelConfig.bertBaseUncased
        let plan = try ShardPlan.make(.layer, config: config, shardCount: 3)
        let decoded = try JSONDecoder().decode(ShardPlan.self, from: try JSONEncoder().encode(plan))
        #expect(decoded == plan)
        var broken = plan
        broken.shards[1].components.removeFirst()
        #expect(modelUsageError { try broken.validate(for: config) } != nil)
        #expect(plan.shards[0].byteSize(in: config) > plan.shards[1].byteSize(in: config))  // word embeddings
    }
}
