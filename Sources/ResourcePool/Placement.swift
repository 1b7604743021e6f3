/// Which context serves each shard: plain data, reported before and after every fault.
public struct Placement: Sendable, Codable, Equatable, CustomStringConvertible {
    /// Context name per shard index.
    public var contexts: [String]

    public init(contexts: [String]) { self.contexts = contexts }

    /// Round-robin over the contexts in order: shard i goes to context i mod n.
    public static func spread(shards: Int, over names: [String]) -> Placement {
        Placement(contexts: (0..<shards).map { names[$0 % names.count] })
    }

    /// The shards placed on `context`.
    public func shards(on context: String) -> [Int] { contexts.indices.filter { contexts[$0] == context } }

    /// "shard 0 → chrome, shard 1 → firefox, …"
    public var description: String {
        contexts.enumerated().map { "shard \($0.offset) → \($0.element)" }.joined(separator: ", ")
    }

    /// As a JSON-friendly map: "0" → "chrome".
    public var byShard: [String: String] {
        Dictionary(uniqueKeysWithValues: contexts.enumerated().map { (String($0.offset), $0.element) })
    }
}
