// ShardPlan: which contiguous run of components each shard holds.
//
// Every type splits a list of *units* (each unit = one or more consecutive components) into
// `shardCount` contiguous groups as evenly as possible (the first `units % count` groups get
// one unit more). The types differ only in what a unit is:
// - layer: a unit is one encoder layer (attention + feed-forward). Embeddings join the first
//   shard, the pooler the last. At most `numLayers` shards.
// - attention_feedforward: a unit is one attention block or one feed-forward block, so a
//   boundary may fall inside a layer (between its attention and its feed-forward); with
//   2 × numLayers shards each block is its own shard. Embeddings join the first, pooler the last.
// - component: every component is a unit, embeddings and pooler included; with
//   `config.components.count` shards there is one shard per component (the natural use).

/// How a model is cut into shards. Raw values are the CLI's spellings.
public enum ShardType: String, Sendable, Codable, Hashable, CaseIterable {
    case layer
    case attentionFeedForward = "attention_feedforward"
    case component

    /// Parses a CLI spelling.
    public init(parsing name: String) throws {
        guard let type = ShardType(rawValue: name) else { throw ModelUsageError.unknownShardType(name) }
        self = type
    }

    /// The most shards this type can make for `config`.
    public func maximumShards(for config: ModelConfig) -> Int { units(for: config).count }

    /// The components grouped into this type's indivisible units, in execution order.
    func units(for config: ModelConfig) -> [[ModelComponent]] {
        let components = config.components
        switch self {
        case .component:
            return components.map { [$0] }
        case .attentionFeedForward, .layer:
            var units: [[ModelComponent]] = []
            for component in components {
                switch component {
                case .embeddings, .pooler:
                    continue
                case .attention:
                    units.append([component])
                case .feedForward:
                    if self == .layer, !units.isEmpty { units[units.count - 1].append(component) } else { units.append([component]) }
                }
            }
            // Embeddings ride with the first unit, the pooler with the last.
            if units.isEmpty { return components.isEmpty ? [] : [components] }
            if components.first == .embeddings { units[0].insert(.embeddings, at: 0) }
            if components.last == .pooler { units[units.count - 1].append(.pooler) }
            return units
        }
    }
}

/// A plan: shards in execution order, each a contiguous run of components.
public struct ShardPlan: Sendable, Codable, Hashable, CustomStringConvertible {
    public struct Shard: Sendable, Codable, Hashable, CustomStringConvertible {
        public var index: Int
        public var components: [ModelComponent]

        public init(index: Int, components: [ModelComponent]) {
            self.index = index
            self.components = components
        }

        /// fp32 bytes of this shard's weights.
        public func byteSize(in config: ModelConfig) -> Int {
            components.reduce(0) { $0 + $1.byteSize(in: config) }
        }

        public var description: String { "shard \(index): \(ShardPlan.summarize(components))" }
    }

    public var type: ShardType
    public var modelName: String
    public var shards: [Shard]

    public init(type: ShardType, modelName: String, shards: [Shard]) {
        self.type = type
        self.modelName = modelName
        self.shards = shards
    }

    /// Splits `config`'s components into `shardCount` shards of the given type.
    public static func make(_ type: ShardType = .layer, config: ModelConfig, shardCount: Int) throws -> ShardPlan {
        let units = type.units(for: config)
        guard shardCount >= 1, shardCount <= units.count else {
            throw ModelUsageError.invalidShardCount(requested: shardCount, maximum: units.count, type: type.rawValue)
        }
        var shards: [Shard] = []
        var next = 0
        for index in 0..<shardCount {
            let size = units.count / shardCount + (index < units.count % shardCount ? 1 : 0)
            shards.append(Shard(index: index, components: units[next..<next + size].flatMap { $0 }))
            next += size
        }
        return ShardPlan(type: type, modelName: config.name, shards: shards)
    }

    /// The shard holding `component`, if any.
    public func shardIndex(of component: ModelComponent) -> Int? {
        shards.first { $0.components.contains(component) }?.index
    }

    /// Checks a plan (e.g. one read back from JSON) against `config`: every component
    /// exactly once, in execution order, shards indexed 0..<count, none empty.
    public func validate(for config: ModelConfig) throws {
        let flattened = shards.flatMap(\.components)
        guard flattened == config.components else {
            throw ModelUsageError.invalidConfig("shard plan does not cover \(config.name)'s components exactly once in order")
        }
        for (position, shard) in shards.enumerated() where shard.index != position || shard.components.isEmpty {
            throw ModelUsageError.invalidConfig("shard plan has an empty or misnumbered shard at position \(position)")
        }
    }

    public var description: String {
        var lines = ["\(type.rawValue) plan for \(modelName), \(shards.count) shard\(shards.count == 1 ? "" : "s"):"]
        lines += shards.map { "  \($0.description)" }
        return lines.joined(separator: "\n")
    }

    /// "embeddings, layer0-3, layer4.attention, pooler": whole layers in a row collapse to a range.
    static func summarize(_ components: [ModelComponent]) -> String {
        var parts: [String] = []
        var runStart: Int?
        var runEnd = 0
        func closeRun() {
            if let start = runStart { parts.append(start == runEnd ? "layer\(start)" : "layer\(start)-\(runEnd)") }
            runStart = nil
        }
        var index = 0
        while index < components.count {
            let component = components[index]
            if case let .attention(layer) = component, index + 1 < components.count,
               components[index + 1] == .feedForward(layer: layer) {
                if let _ = runStart, runEnd + 1 == layer { runEnd = layer } else { closeRun(); runStart = layer; runEnd = layer }
                index += 2
                continue
            }
            closeRun()
            parts.append(component.id)
            index += 1
        }
        closeRun()
        return parts.joined(separator: ", ")
    }
}
