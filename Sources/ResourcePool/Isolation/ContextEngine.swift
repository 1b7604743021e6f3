import Foundation
import Transformer
import TransformerGPU
import VulkanCompute

/// What a webgpu context runs on: its GPU objects in this process (`LocalEngine`, thread
/// isolation) or in its browser's process (`RemoteEngine`, process isolation). The context,
/// the router and the strategies see only this, so they do not know which they drive.
/// Every call throws the typed loss (VulkanError, GPUModelError) a fault causes.
protocol ContextEngine: AnyObject, Sendable {
    /// The VkDevice's creation number (a reconnect keeps it, a rebuild changes it).
    var deviceSerial: Int { get }
    var deviceName: String { get }
    /// What names the physical device across processes (`PhysicalDeviceInfo.identity`).
    var deviceIdentity: String { get }
    /// The process the context runs in (this one for thread isolation).
    var pid: Int32 { get }
    var kernelsSummary: String { get }
    /// Components whose weights are on the device, as last known.
    var loadedComponents: Set<ModelComponent> { get }
    var weightBytes: Int { get }
    /// True while a reconnect can work (the device, or the process, lives).
    var canReconnect: Bool { get }
    /// Requests sent to another process and not yet answered (0 in this one).
    var requestsInFlight: Int { get }
    /// How many requests the last `crash()` caught unanswered in the process (nil in this one).
    var requestsCaughtByKill: Int? { get }

    func load(_ component: ModelComponent, from weights: WeightStore) throws -> Int
    func unload(_ component: ModelComponent)
    func run(_ components: [ModelComponent], state: inout ActivationState) throws
    func heartbeat(deadline: Duration) throws
    func reconnect() throws -> String

    /// Digests every weight held on the device against the source's digests.
    func scrub() throws -> ScrubResult

    // Faults: each returns what it really did, one line.
    func dropConnection() -> String
    func failComponent(_ component: ModelComponent) -> String
    func crash() -> String
    /// browser_freeze and gpu_hang: faults only a separate process can suffer (throws in this one).
    func freeze() throws -> String
    func hang() throws -> String
    /// Cleanup before a rebuild: a process that lives but cannot serve is killed (a hung queue
    /// cannot be reclaimed from outside). What was done, or nil when nothing needed it.
    func reclaim(context: String) -> String?
    /// Silent corruption: wrong bits in a component's weights where its kernels read them.
    func corrupt(_ component: ModelComponent, _ spec: CorruptionSpec) throws -> CorruptionRecord
    /// Releases whatever is left (cleanup before a rebuild, or the pool's end).
    func release(reason: String)
}

/// What a scrub of a context's weights found (one finding per tensor that differs from the source).
public struct ScrubResult: Sendable {
    public let findings: [CorruptionFinding]
    public let bytes: Int
    public let seconds: Double
}

/// Thread isolation: the context's device (or its queue of a shared device), channel,
/// pipelines and weights, in this process. Faults are deliberate teardowns (`simulated`).
final class LocalEngine: ContextEngine, @unchecked Sendable {  // immutable after init
    let stack: ContextStack
    /// Queue mode: the shared device and this context's queue (a crash never destroys it).
    let sharedQueue: Int?
    let name: String

    init(stack: ContextStack, sharedQueue: Int?, name: String) {
        self.stack = stack
        self.sharedQueue = sharedQueue
        self.name = name
    }

    var deviceSerial: Int { stack.device.serial }
    var deviceName: String { stack.device.physical.info.name }
    var deviceIdentity: String { stack.device.physical.info.identity }
    var pid: Int32 { getpid() }
    var requestsInFlight: Int { 0 }
    var requestsCaughtByKill: Int? { nil }
    var kernelsSummary: String { stack.summary }
    var loadedComponents: Set<ModelComponent> { stack.model.loadedComponents }
    var weightBytes: Int { stack.model.weightBytes }
    var canReconnect: Bool { stack.device.isAlive }

    func load(_ component: ModelComponent, from weights: WeightStore) throws -> Int {
        try stack.model.load(component, from: weights).bytes
    }
    func unload(_ component: ModelComponent) { stack.model.unload(component) }
    func run(_ components: [ModelComponent], state: inout ActivationState) throws { try stack.model.run(components, state: &state) }
    func heartbeat(deadline: Duration) throws { try stack.heartbeat(deadline: deadline) }
    func scrub() throws -> ScrubResult {
        let report = try stack.model.scrub()
        return ScrubResult(findings: report.findings, bytes: report.bytes, seconds: report.seconds)
    }
    func corrupt(_ component: ModelComponent, _ spec: CorruptionSpec) throws -> CorruptionRecord {
        try stack.model.corrupt(component, spec)
    }

    func reconnect() throws -> String {
        guard stack.device.isAlive else { throw VulkanError.deviceLost("\(name): cannot reconnect a destroyed device") }
        try stack.channel.reconnect()
        return "new command pool and fence on device #\(stack.device.serial)"
    }

    func dropConnection() -> String {
        stack.channel.drop(reason: "simulated connection loss")
        return "destroyed command pool and fence of \(name) (device #\(stack.device.serial) kept)"
    }

    func failComponent(_ component: ModelComponent) -> String {
        stack.model.unload(component)
        return "released \(component.id) weight buffers and recorded batches on \(name)"
    }

    func crash() -> String {
        let serial = stack.device.serial
        if let queue = sharedQueue {
            releaseQueueObjects(reason: "simulated browser crash")
            return "released queue \(queue) objects, pipelines and weights of \(name) (device #\(serial) is shared and stays)"
        }
        stack.device.destroy(reason: "simulated browser crash")
        return "vkDestroyDevice on \(name) (device #\(serial), \(stack.device.physical.info.name))"
    }

    func freeze() throws -> String {
        throw PoolError.unknownTarget("browser_freeze needs process isolation: \(name) runs in this process")
    }

    func hang() throws -> String {
        throw PoolError.unknownTarget("gpu_hang needs process isolation: \(name) runs in this process")
    }

    func reclaim(context: String) -> String? { nil }  // a device of this process is released, never killed

    func release(reason: String) {
        if sharedQueue != nil { releaseQueueObjects(reason: reason) } else { stack.device.destroy(reason: reason) }
    }

    /// Queue mode's teardown: everything of this context on the shared device, now.
    private func releaseQueueObjects(reason: String) {
        stack.channel.drop(reason: reason)
        for c in stack.model.loadedComponents { stack.model.unload(c) }
        stack.kernels.release()
    }
}
