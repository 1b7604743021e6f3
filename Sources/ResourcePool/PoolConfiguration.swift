import Transformer
import TransformerGPU
import VulkanCompute

/// How a pool is laid out and how hard it tries.
public struct PoolConfiguration: Sendable {
    public enum ContextMode: String, Sendable, Codable, CaseIterable {
        /// Each webgpu context owns a VkDevice (lavapipe's only option: one queue per device).
        case device
        /// Contexts share one VkDevice, a queue each, where the GPU offers enough queues.
        case queue
    }

    /// Where a browser's contexts run.
    public enum Isolation: String, Sendable, Codable, CaseIterable {
        /// In this process: faults are deliberate teardowns of our own Vulkan objects (debugging, fast tests).
        case thread
        /// Each browser is its own OS process (a worker role of this executable): a crash is a
        /// SIGKILL, a lost connection a broken socket, a hang a dispatch that never returns.
        case process
    }

    public var isolation: Isolation = .thread
    /// Process isolation: how long a request (a shard run after its first, a heartbeat) may
    /// take before the watchdog declares the context hung and kills its process.
    public var watchdog: Duration = .seconds(2)
    /// Process isolation: how long a browser process may take to start, and a shard's first
    /// run (it compiles pipelines; lavapipe JITs then, minutes on a cold cache for a big model).
    public var startDeadline: Duration = .seconds(300)
    /// Process isolation: requests a context may have in flight in its browser's process (the
    /// browser queues them and runs them in order; 1: one at a time).
    public var requestsInFlight = PoolConfiguration.defaultRequestsInFlight
    public static let defaultRequestsInFlight = 16
    public static let requestsInFlightRange = 1...64
    /// Process isolation: the executable to start in its worker role (default: this one).
    public var workerExecutable: String?

    /// `--devices`: the physical device (index at start) each browser runs on; a browser not
    /// listed takes the selection's device. A rebuilt browser returns to its own device (found
    /// again by its identity after a fresh query), or goes elsewhere if it is gone, saying so.
    public var browserDevices: [String: Int] = [:]
    /// When a browser that keeps crashing is demoted (hardware → software Vulkan → CPU).
    public var crashPolicy = CrashPolicy()

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

    /// Silent-corruption checks on every webgpu context's device: checksummed Linears, and the
    /// source's row digests for scrubbing.
    public var integrity = IntegrityChecks.all
    /// Process isolation: the first browser's process misuses Vulkan once (`--vulkan-misuse`,
    /// hidden), to show the validation layer's messages reach the report from a browser.
    public var vulkanMisuse: VulkanMisuse?
    /// Which requests are checked against the CPU reference shard by shard (the reference
    /// detector): every one (1), every Nth, or none (0).
    public var verifyEvery = 1
    /// silent_corruption: how the weights are corrupted (the seed is drawn per injection).
    public var corruption = CorruptionSpec(seed: 0)
    /// silent_corruption: the corrupted context's device corrupts its weights again after each
    /// of its next N restores (bad hardware: the restore does not hold, and the pool isolates it).
    public var keepCorrupting = 0
    /// cascading_failure: the recovery stage the second crash strikes at (nil: drawn with the seed).
    public var cascadeStage: Cascade.Stage?

    public init() {}

    /// Why `name` cannot be a browser's, or nil: a name becomes a context's name, a socket's file
    /// name in the run directory and a label in every report, so it is a letter followed by at
    /// most 31 letters, digits, `-` or `_` (no path, no space, nothing a shell or a parser reads).
    public static func problem(withBrowserName name: String) -> String? {
        func letter(_ b: UInt8) -> Bool { (b >= 65 && b <= 90) || (b >= 97 && b <= 122) }
        let bytes = Array(name.utf8)
        let ok = (1...32).contains(bytes.count) && letter(bytes[0])
            && bytes.dropFirst().allSatisfy { letter($0) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 95 }
        return ok ? nil : "'\(name)' is not a browser name: use a letter, then letters, digits, - or _ (at most 32)"
    }

    /// Context names: the browser name, with "-2", "-3" for repeats.
    public var contextNames: [(name: String, browser: String)] {
        var seen: [String: Int] = [:]
        return browsers.map { b in
            seen[b, default: 0] += 1
            return (seen[b]! == 1 ? b : "\(b)-\(seen[b]!)", b)
        }
    }
}
