import Transformer

/// How a pool is laid out and how hard it tries.
public struct PoolConfiguration: Sendable {
    public enum ContextMode: String, Sendable, Codable, CaseIterable {
        /// Each webgpu context owns a VkDevice (lavapipe's only option: one queue per device).
        case device
        /// Contexts share one VkDevice, a queue each, where the GPU offers enough queues.
        case queue
    }

    /// Browser names, one context each; a repeated name makes "chrome-2".
    public var browsers: [String] = ["chrome", "firefox", "edge"]
    /// Browsers whose context is WebNN (the CPU path) instead of WebGPU.
    public var webnnBrowsers: Set<String> = []
    public var contextMode: ContextMode = .device
    /// Queue mode on a device with fewer queues than contexts: let contexts share queues
    /// (round robin). Safe — every Vulkan call on a device is serialised by its lock — but it
    /// isolates less; the CLI falls back to devices instead, tests use it on lavapipe.
    public var allowSharedQueues = false
    public var shardType: ShardType = .layer
    /// Shards in the plan (default: one per context).
    public var shardCount: Int?
    /// Seeds drawn fault targets, backoff jitter and the verification probe.
    public var seed: UInt64 = 42
    public var retry = RetryPolicy()
    public var breakerThreshold = 3
    public var breakerCooldown = 0.25
    /// The heartbeat's deadline (a 64-element dispatch; far longer than it ever needs).
    public var heartbeatDeadline: Duration = .seconds(2)
    /// How long a coordinated switch waits for in-flight requests to drain.
    public var quiesceDeadline: Duration = .seconds(30)

    public init() {}

    /// Context names: the browser name, with "-2", "-3" for repeats.
    public var contextNames: [(name: String, browser: String)] {
        var seen: [String: Int] = [:]
        return browsers.map { b in
            seen[b, default: 0] += 1
            return (seen[b]! == 1 ? b : "\(b)-\(seen[b]!)", b)
        }
    }
}
