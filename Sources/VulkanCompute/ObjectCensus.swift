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
    nonisolated(unsafe) private static var perDevice: [ObjectIdentifier: Int] = [:]  // guarded by `lock`

    /// Live objects per kind right now.
    public static var live: [Kind: Int] { lock.withLock { counts.filter { $0.value != 0 } } }

    /// Total live objects.
    public static var total: Int { lock.withLock { counts.values.reduce(0, +) } }

    /// Live objects of one device, the device itself included (0 once it is destroyed). Tests
    /// that run beside other GPU tests count this, not the process-wide total.
    public static func live(ownedBy device: ComputeDevice) -> Int {
        lock.withLock { perDevice[ObjectIdentifier(device)] ?? 0 }
    }

    static func created(_ kind: Kind, by device: ComputeDevice) {
        lock.withLock {
            counts[kind, default: 0] += 1
            perDevice[ObjectIdentifier(device), default: 0] += 1
        }
    }

    static func destroyed(_ kind: Kind, by device: ComputeDevice) {
        lock.withLock {
            counts[kind, default: 0] -= 1
            let id = ObjectIdentifier(device)
            perDevice[id, default: 0] -= 1
            if perDevice[id] == 0 { perDevice[id] = nil }
        }
    }
}
