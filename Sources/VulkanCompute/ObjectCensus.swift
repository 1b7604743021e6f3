import Foundation

/// Counts the live Vulkan objects VulkanCompute created, by kind, across the process.
/// Leak tests compare a census before and after many crash/recover cycles: every object a
/// fault tears down must be destroyed exactly once.
public enum ObjectCensus {
    public enum Kind: String, Sendable, CaseIterable {
        case device, commandPool, fence, buffer, memory, bufferView, shaderModule,
             descriptorSetLayout, pipelineLayout, pipeline, pipelineCache, descriptorPool, queryPool
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var counts: [Kind: Int] = [:]  // guarded by `lock`

    /// Live objects per kind right now.
    public static var live: [Kind: Int] { lock.withLock { counts.filter { $0.value != 0 } } }

    /// Total live objects.
    public static var total: Int { lock.withLock { counts.values.reduce(0, +) } }

    static func created(_ kind: Kind, _ n: Int = 1) { lock.withLock { counts[kind, default: 0] += n } }
    static func destroyed(_ kind: Kind, _ n: Int = 1) { lock.withLock { counts[kind, default: 0] -= n } }
}
