import Foundation
import Transformer
import TransformerGPU
import VulkanCompute

/// A simulated browser. `webgpu`: its own VkDevice with a channel, pipelines and the weights of
/// the components placed on it. `webnn`: the CPU reference path over the host weights.
/// Every state change is an event in the pool's log. Faults tear its objects down for real;
/// recovery reconnects or rebuilds them, and every step reports its time.
public final class BrowserContext: @unchecked Sendable {  // mutable state under `lock`
    public enum Backend: String, Sendable, Codable { case webgpu, webnn }

    public let name: String
    /// The browser this context belongs to ("chrome" for "chrome" and "chrome-2").
    public let browser: String
    public let backend: Backend
    let environment: GPUEnvironment
    let log: EventLog
    let breaker: CircuitBreaker
    private let lock = NSRecursiveLock()
    /// `recovering` until `start()` first brings the context up.
    private var currentState: ContextState = .recovering
    private var stack: GPUStack?
    /// Components whose weights this context holds (webnn: the ones it serves).
    private var held: Set<ModelComponent> = []
    /// Rebuilds that will fail on purpose (a browser that keeps crashing; see FaultInjector).
    private var sabotagedRebuilds = 0
    /// Components found missing by a request or a heartbeat and not reloaded since: a second
    /// request meeting the same missing component is the same fault, not a new one.
    private var knownLost: Set<ModelComponent> = []
    /// Queue mode: the device every context shares, and this context's queue on it. A crash
    /// then releases this context's queue objects, pipelines and weights, never the shared device.
    private let shared: (device: ComputeDevice, queue: Int)?

    init(name: String, browser: String, backend: Backend, environment: GPUEnvironment, log: EventLog, breaker: CircuitBreaker,
         shared: (device: ComputeDevice, queue: Int)? = nil) {
        self.shared = shared
        self.name = name
        self.browser = browser
        self.backend = backend
        self.environment = environment
        self.log = log
        self.breaker = breaker
    }

    public var state: ContextState { lock.withLock { currentState } }

    /// Ready and with a breaker that lets requests through: the router may send it a shard.
    public var isRoutable: Bool { state == .ready && breaker.allows }

    /// Takes in a loss met while using this context and moves its state to what the loss says.
    /// Returns true when the loss is news: the context was serving when it struck, or the
    /// missing component was not yet known lost. Every later sighting of the same fault (more
    /// requests, failover attempts, the detection heartbeat) returns false, so one fault counts
    /// once against the circuit breaker however many requests or how fast a machine meets it.
    func recordLoss(_ error: any Error, components: [ModelComponent]) -> Bool {
        lock.withLock {
            let wasServing = currentState == .ready
            switch error {
            case VulkanError.deviceLost:
                transition(to: .crashed, "\(error)")
                return wasServing
            case VulkanError.queueLost, VulkanError.timeout:
                if wasServing { transition(to: .disconnected, "\(error)") }
                return wasServing
            default:  // a missing component: the context still serves its others
                let loaded = stack?.model.loadedComponents ?? []
                let lost = Set(components.filter { !loaded.contains($0) })
                let news = !lost.isSubset(of: knownLost) || (lost.isEmpty && wasServing)
                knownLost.formUnion(lost)
                log.record("failure", context: name, "\(error)")
                return news
            }
        }
    }

    func transition(to next: ContextState, _ why: String) {
        lock.withLock {
            guard currentState != next else { return }
            log.record("state", context: name, "\(currentState.rawValue) → \(next.rawValue): \(why)")
            currentState = next
        }
    }

    /// The device this context runs on now (nil for webnn or while crashed).
    public var device: ComputeDevice? { lock.withLock { stack?.device } }
    public var deviceSummary: (name: String, driver: String, type: String, software: Bool, compute: String) {
        switch backend {
        case .webnn: return ("CPU (OpenBLAS)", "OpenBLAS", "host", false, "the CPU reference forward (cblas_sgemm)")
        case .webgpu:
            let (info, kernels) = lock.withLock { (stack?.device.physical.info, stack?.kernels) }
            let shown = info ?? environment.initialDevice
            return (shown.name, shown.driverInfo, shown.type.rawValue, shown.isSoftware, kernels?.summary ?? "not started")
        }
    }
    public var heldComponents: Set<ModelComponent> { lock.withLock { held } }
    /// Bytes of weights held on the device.
    public var weightBytes: Int { lock.withLock { stack?.model.weightBytes ?? 0 } }

    // MARK: - Start and rebuild

    /// Creates the device, channel and pipelines (no weights). Returns the timed steps.
    func start(reason: String) throws -> [RecoveryStep] {
        try lock.withLock {
            guard backend == .webgpu else {
                transition(to: .ready, reason)
                return []
            }
            var steps: [RecoveryStep] = []
            func timed<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
                let start = ContinuousClock.now
                defer { steps.append(RecoveryStep(name: name, context: self.name, since: start, on: log)) }
                return try body()
            }
            let device: ComputeDevice
            if let shared {
                device = shared.device
            } else {
                let physical = try timed("device_query") { try environment.choosePhysicalDevice() }
                device = try timed("device_creation") { try environment.makeDevice(physical, label: name) }
            }
            if sabotagedRebuilds > 0 {
                sabotagedRebuilds -= 1
                if shared == nil { device.destroy(reason: "simulated crash during start") }
                throw VulkanError.deviceLost("\(name) crashed again while starting (simulated: a browser that keeps crashing)")
            }
            let channel = try timed("queue_creation") { try Channel(device: device, queueIndex: shared?.queue ?? 0, label: name) }
            let kernels = try timed("pipeline_creation") { try GPUKernels(device: device, config: environment.config) }
            let model = try GPUModelContext(channel: channel, config: environment.config, kernels: kernels)
            stack = try GPUStack(device: device, channel: channel, kernels: kernels, model: model)
            held = []
            knownLost = []
            log.record("device", context: name, "device #\(device.serial) on \(device.physical.info.name)"
                       + (shared.map { ", shared, queue \($0.queue)" } ?? ""))
            transition(to: .ready, reason)
            return steps
        }
    }

    /// Uploads the weights of `components` not held yet. Returns bytes and seconds.
    func load(_ components: [ModelComponent]) throws -> (bytes: Int, seconds: Double) {
        try lock.withLock {
            let missing = components.filter { !held.contains($0) }
            guard backend == .webgpu else {
                held.formUnion(missing)
                return (0, 0)
            }
            guard let stack else { throw VulkanError.deviceLost("\(name) has no device") }
            var bytes = 0
            let start = ContinuousClock.now
            for c in missing {
                bytes += try stack.model.load(c, from: environment.weights).bytes
                held.insert(c)
                knownLost.remove(c)
            }
            if bytes > 0 {
                log.span("weight_upload", category: "upload", context: name, start: log.offset(of: start),
                         duration: (ContinuousClock.now - start).seconds, args: ["bytes": "\(bytes)", "components": missing.map(\.id).joined(separator: ", ")])
                log.addUploaded(bytes)
            }
            return (bytes, (ContinuousClock.now - start).seconds)
        }
    }

    /// Drops the weights of `components` (a failover copy no longer needed).
    func unload(_ components: [ModelComponent]) {
        lock.withLock {
            for c in components {
                stack?.model.unload(c)
                held.remove(c)
            }
        }
    }

    // MARK: - Serving

    /// Runs a shard. Throws the typed loss (VulkanError / GPUModelError) when the context
    /// cannot; the state is untouched then.
    func run(_ components: [ModelComponent], state: inout ActivationState) throws {
        switch backend {
        case .webnn:
            try environment.cpu.run(components, state: &state)
        case .webgpu:
            let model: GPUModelContext = try lock.withLock {
                guard let stack else { throw VulkanError.deviceLost("\(name): device destroyed") }
                return stack.model
            }
            try model.run(components, state: &state)
        }
    }

    /// A tiny dispatch with a short deadline: proves the queue, device and pipelines answer.
    func heartbeat(deadline: Duration) throws {
        guard backend == .webgpu else { return }
        let live: GPUStack = try lock.withLock {
            guard let stack else { throw VulkanError.deviceLost("\(name): device destroyed") }
            return stack
        }
        try live.heartbeat(deadline: deadline)
    }

    /// Components this context should hold but whose weights are gone (a component failure).
    func missingComponents(of expected: [ModelComponent]) -> [ModelComponent] {
        lock.withLock {
            guard backend == .webgpu, let stack else { return [] }
            let loaded = stack.model.loadedComponents
            return expected.filter { !loaded.contains($0) }
        }
    }

    // MARK: - Faults (the real teardown; the pool learns of it only by using the context)

    func dropConnection() -> String {
        lock.withLock {
            guard let stack else { return "\(name): no device to disconnect" }
            stack.channel.drop(reason: "simulated connection loss")
            return "destroyed command pool and fence of \(name) (device #\(stack.device.serial) kept)"
        }
    }

    func failComponent(_ component: ModelComponent) -> String {
        lock.withLock {
            stack?.model.unload(component)
            held.remove(component)
            return "released \(component.id) weight buffers and recorded batches on \(name)"
        }
    }

    func crash() -> String {
        lock.withLock {
            guard let stack else { return "\(name): already down" }
            let serial = stack.device.serial
            if let shared {
                release(stack, reason: "simulated browser crash")
                return "released queue \(shared.queue) objects, pipelines and weights of \(name) (device #\(serial) is shared and stays)"
            }
            stack.device.destroy(reason: "simulated browser crash")
            return "vkDestroyDevice on \(name) (device #\(serial), \(stack.device.physical.info.name))"
        }
    }

    /// Queue mode's teardown: everything of this context on the shared device, now.
    private func release(_ stack: GPUStack, reason: String) {
        stack.channel.drop(reason: reason)
        for c in stack.model.loadedComponents { stack.model.unload(c) }
        stack.kernels.release()
        self.stack = nil
        held = []
    }

    /// The next `count` starts fail right after device creation (a browser that keeps crashing).
    func sabotage(rebuilds count: Int) { lock.withLock { sabotagedRebuilds = count } }

    // MARK: - Recovery

    /// A new channel on the same device: no weights move.
    func reconnect() throws -> [RecoveryStep] {
        try lock.withLock {
            guard let stack, stack.device.isAlive else { throw VulkanError.deviceLost("\(name): cannot reconnect a destroyed device") }
            let start = ContinuousClock.now
            try stack.channel.reconnect()
            transition(to: .ready, "reconnected")
            return [RecoveryStep(name: "queue_creation", context: name, since: start, on: log,
                                 detail: "new command pool and fence on device #\(stack.device.serial)")]
        }
    }

    /// Releases whatever is left of the old device (cleanup before a rebuild).
    func tearDown() -> RecoveryStep {
        lock.withLock {
            let start = ContinuousClock.now
            if let stack, shared != nil { release(stack, reason: "cleanup before rebuild") }
            stack?.device.destroy(reason: "cleanup before rebuild")
            stack = nil
            held = []
            knownLost = []
            return RecoveryStep(name: "cleanup", context: name, since: start, on: log)
        }
    }
}
