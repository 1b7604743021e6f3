import Foundation
import Transformer
import TransformerGPU
import VulkanCompute

/// A simulated browser. `webgpu`: a VkDevice (or a queue of a shared one) with a channel,
/// pipelines and the weights of the components placed on it — in this process (thread
/// isolation) or in its browser's own OS process (process isolation; see `ContextEngine`).
/// `webnn`: the CPU reference path over the host weights.
/// Every state change is an event in the pool's log. Faults tear its objects down for real;
/// recovery reconnects or rebuilds them, and every step reports its time.
public final class BrowserContext: @unchecked Sendable {  // mutable state under `lock`
    public enum Backend: String, Sendable, Codable { case webgpu, webnn }

    public let name: String
    /// The browser this context belongs to ("chrome" for "chrome" and "chrome-2").
    public let browser: String
    /// webgpu, or webnn; a webgpu context demoted to the CPU path becomes webnn.
    public var backend: Backend { lock.withLock { currentBackend } }
    private var currentBackend: Backend
    /// Demoted to software Vulkan: rebuilt on a software device, whatever its home device is.
    private var softwareOnly = false
    let environment: GPUEnvironment
    let log: EventLog
    let breaker: CircuitBreaker
    private let lock = NSRecursiveLock()
    /// `recovering` until `start()` first brings the context up.
    private var currentState: ContextState = .recovering
    private var engine: (any ContextEngine)?
    /// Counts every replacement of what serves (a start, a reconnect, a teardown): a loss met on
    /// an engine or channel a recovery has since replaced is told from one met on what serves now.
    private var engineGeneration = 0
    /// Components whose weights this context holds (webnn: the ones it serves).
    private var held: Set<ModelComponent> = []
    /// Rebuilds that will fail on purpose (a browser that keeps crashing; see FaultInjector).
    private var sabotagedRebuilds = 0
    /// Restores after which the device corrupts the weights again (bad hardware; see FaultInjector).
    private var sabotagedRestores = 0
    /// The silent corruption that put this context in quarantine, while it is there.
    private var quarantinedBy: CorruptionFinding?
    /// Components found missing by a request or a heartbeat and not reloaded since: a second
    /// request meeting the same missing component is the same fault, not a new one.
    private var knownLost: Set<ModelComponent> = []
    /// Thread isolation, queue mode: the device every context shares, and this context's queue
    /// on it. A crash then releases this context's queue objects, pipelines and weights, never
    /// the shared device.
    private let shared: (device: ComputeDevice, queue: Int)?
    /// Process isolation: the browser's process host (nil in thread isolation).
    let host: BrowserHost?
    /// How this context's engine is made at each start.
    private let starter: EngineStart
    /// `--devices`: this browser's own physical device, to return to on a rebuild.
    let homeDevice: PhysicalDeviceInfo?

    init(name: String, browser: String, backend: Backend, environment: GPUEnvironment, log: EventLog, breaker: CircuitBreaker,
         shared: (device: ComputeDevice, queue: Int)? = nil, host: BrowserHost? = nil, configuration: PoolConfiguration = PoolConfiguration(),
         token: String = "") {
        self.shared = shared
        self.name = name
        self.browser = browser
        currentBackend = backend
        self.environment = environment
        self.log = log
        self.breaker = breaker
        self.host = host
        homeDevice = configuration.browserDevices[browser].flatMap {
            environment.physicalDevices.indices.contains($0) ? environment.physicalDevices[$0] : nil
        }
        starter = EngineStart(name: name, environment: environment, log: log, shared: shared, host: host, homeDevice: homeDevice,
                              watchdog: configuration.watchdog, startDeadline: configuration.startDeadline,
                              window: configuration.requestsInFlight, integrity: configuration.integrity, token: token)
    }

    public var state: ContextState { lock.withLock { currentState } }

    /// Ready and with a breaker that lets requests through: the router may send it a shard.
    public var isRoutable: Bool { state == .ready && breaker.allows }

    /// Which engine serves now (see `recordLoss`): read before using the context, it names the
    /// engine a loss was met on.
    var generation: Int { lock.withLock { engineGeneration } }

    /// Takes in a loss met while using this context and moves its state to what the loss says.
    /// Returns true when the loss is news: the context was serving when it struck, or the
    /// missing component was not yet known lost. Every later sighting of the same fault (more
    /// requests, failover attempts, the detection heartbeat) returns false, so one fault counts
    /// once against the circuit breaker however many requests or how fast a machine meets it.
    /// A loss met on `generation` after a recovery replaced that engine says nothing about the
    /// context now (a request that took the old engine answers after the rebuild): it moves
    /// nothing and is not news.
    func recordLoss(_ error: any Error, components: [ModelComponent], generation: Int? = nil) -> Bool {
        lock.withLock {
            if let generation, generation != engineGeneration {
                log.record("failure", context: name, "\(error) (met on an engine since replaced: not this context's fault now)")
                return false
            }
            let news = isNews(error, components: components)
            if news { log.countLoss(on: name) }  // under this lock: whoever sees the new state sees the count
            return news
        }
    }

    /// What the loss does to this context, and whether it is news. Called under `lock`.
    private func isNews(_ error: any Error, components: [ModelComponent]) -> Bool {
        let wasServing = currentState == .ready
        switch ContextLoss(error) {
        case .corruption(let finding)?:
            // Wrong answers or wrong weights: nothing more goes to it until it is restored.
            if wasServing || currentState == .recovering {
                quarantinedBy = finding
                transition(to: .quarantined, "\(finding)")
            }
            return wasServing
        case .device?:
            transition(to: .crashed, "\(error)")
            return wasServing
        case .connection?:
            if wasServing { transition(to: .disconnected, "\(error)") }
            return wasServing
        case .components?, nil:  // a missing component (or no loss): the context still serves its others
            let loaded = engine?.loadedComponents ?? []
            let lost = Set(components.filter { !loaded.contains($0) })
            let news = !lost.isSubset(of: knownLost) || (lost.isEmpty && wasServing)
            knownLost.formUnion(lost)
            log.record("failure", context: name, "\(error)")
            return news
        }
    }

    func transition(to next: ContextState, _ why: String) {
        lock.withLock {
            guard currentState != next else { return }
            log.record("state", context: name, "\(currentState.rawValue) → \(next.rawValue): \(why)")
            currentState = next
        }
    }

    /// The device this context runs on now, in this process (nil for webnn, while crashed, or
    /// in process isolation, where the device lives in the browser's process).
    public var device: ComputeDevice? { lock.withLock { (engine as? LocalEngine)?.stack.device } }
    /// The VkDevice's creation number (in whichever process owns it); nil while down.
    public var deviceSerial: Int? { lock.withLock { engine?.deviceSerial } }
    /// The OS process serving this context (this one in thread isolation); nil for webnn or while down.
    public var pid: Int32? { lock.withLock { backend == .webgpu ? engine?.pid : nil } }
    /// True while the context has live GPU objects to fault.
    var isUp: Bool { lock.withLock { engine != nil } }

    public var deviceSummary: (name: String, driver: String, type: String, software: Bool, compute: String) {
        switch backend {
        case .webnn: return ("CPU (oneDNN)", "oneDNN", "host", false, "the CPU reference forward (oneDNN matmul)")
        case .webgpu:
            let shown = physicalDevice ?? environment.initialDevice
            let kernels = lock.withLock { engine?.kernelsSummary }
            return (shown.name, shown.driverInfo, shown.type.rawValue, shown.isSoftware, kernels ?? "not started")
        }
    }

    /// The physical device this context runs on now (nil for webnn or while down): in this
    /// process, or the one the browser process reported (matched by identity: twins share a UUID).
    public var physicalDevice: PhysicalDeviceInfo? {
        lock.withLock { engine.flatMap(physicalDevice(of:)) }
    }

    private func physicalDevice(of engine: any ContextEngine) -> PhysicalDeviceInfo? {
        environment.physicalDevices.first { $0.identity == engine.deviceIdentity }
    }
    public var heldComponents: Set<ModelComponent> { lock.withLock { held } }
    /// Bytes of weights held on the device.
    public var weightBytes: Int { lock.withLock { engine?.weightBytes ?? 0 } }

    // MARK: - Start and rebuild

    /// Creates the device, channel and pipelines (no weights) — in process isolation, in the
    /// browser's process, spawned first when it has none. Returns the timed steps.
    func start(reason: String) throws -> [RecoveryStep] {
        try lock.withLock {
            guard backend == .webgpu else {
                transition(to: .ready, reason)
                return []
            }
            let sabotaged = sabotagedRebuilds > 0
            if sabotaged { sabotagedRebuilds -= 1 }
            let (started, steps) = try starter.start(softwareOnly: softwareOnly, sabotaged: sabotaged)
            engine = started
            engineGeneration += 1
            held = []
            knownLost = []
            let physical = physicalDevice(of: started).map { " (device \($0.index), \($0.identity))" } ?? ""
            log.record("device", context: name, "device #\(started.deviceSerial) on \(started.deviceName)\(physical)"
                       + (shared.map { ", shared, queue \($0.queue)" } ?? "") + (host != nil ? ", browser process pid \(started.pid)" : ""))
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
            guard let engine else { throw VulkanError.deviceLost("\(name) has no device") }
            var bytes = 0
            let start = ContinuousClock.now
            for c in missing {
                bytes += try engine.load(c, from: environment.weights)
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
                engine?.unload(c)
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
            let live: any ContextEngine = try lock.withLock {
                guard let engine else { throw VulkanError.deviceLost("\(name): device destroyed") }
                return engine
            }
            try live.run(components, state: &state)
        }
    }

    /// A tiny dispatch with a short deadline: proves the queue, device and pipelines answer.
    func heartbeat(deadline: Duration) throws {
        guard backend == .webgpu else { return }
        let live: any ContextEngine = try lock.withLock {
            guard let engine else { throw VulkanError.deviceLost("\(name): device destroyed") }
            return engine
        }
        try live.heartbeat(deadline: deadline)
    }

    /// Components this context should hold but whose weights are gone (a component failure).
    func missingComponents(of expected: [ModelComponent]) -> [ModelComponent] {
        lock.withLock {
            guard backend == .webgpu, let engine else { return [] }
            let loaded = engine.loadedComponents
            return expected.filter { !loaded.contains($0) }
        }
    }

    // MARK: - Faults (the real teardown; the pool learns of it only by using the context)

    func dropConnection() -> String {
        let live = lock.withLock { engine }
        return live?.dropConnection() ?? "\(name): no device to disconnect"
    }

    func failComponent(_ component: ModelComponent) -> String {
        let live = lock.withLock { () -> (any ContextEngine)? in
            held.remove(component)
            return engine
        }
        return live?.failComponent(component) ?? "\(name): no device"
    }

    func crash() -> String {
        lock.withLock {
            guard let engine else { return "\(name): already down" }
            let text = engine.crash()
            if shared != nil {  // queue mode's crash released this context's objects on the shared device
                self.engine = nil
                held = []
            }
            return text
        }
    }

    /// Process isolation: requests sent to the browser's process and not yet answered.
    public var requestsInFlight: Int { lock.withLock { engine?.requestsInFlight ?? 0 } }
    /// Process isolation: how many requests the last crash caught unanswered in the process.
    var requestsCaughtByKill: Int? { lock.withLock { engine?.requestsCaughtByKill } }

    /// browser_freeze (process isolation only): its browser's process stopped.
    func freeze() throws -> String {
        guard let live = lock.withLock({ engine }) else { throw PoolError.unknownTarget("\(name) is down: no process to stop") }
        return try live.freeze()
    }

    /// gpu_hang (process isolation only): a dispatch that never finishes on this context's queue.
    func hang() throws -> String {
        guard let live = lock.withLock({ engine }) else { throw PoolError.unknownTarget("\(name) is down: no queue to hang") }
        return try live.hang()
    }

    /// The browser process's death, noticed by its reaper: every context it served is lost.
    /// True when this context was bound to that process (and so learnt something).
    func processEnded(pid: Int32, _ why: String) -> Bool {
        lock.withLock {
            guard let engine, engine.pid == pid else { return false }
            return recordLoss(VulkanError.deviceLost("\(name): \(why)"), components: [])
        }
    }

    /// Moves the context down the degradation ladder (takes effect at its next start).
    func demote(to rung: Rung) {
        lock.withLock {
            switch rung {
            case .hardware: break
            case .software: softwareOnly = true
            case .cpu: currentBackend = .webnn
            }
        }
    }

    /// The next `count` starts fail right after device creation (a browser that keeps crashing).
    func sabotage(rebuilds count: Int) { lock.withLock { sabotagedRebuilds = count } }

    /// The weights go wrong again after each of the next `count` restores (bad hardware).
    func sabotage(restores count: Int) { lock.withLock { sabotagedRestores = count } }

    /// True once when a restore is sabotaged (and counts it).
    func takeSabotagedRestore() -> Bool {
        lock.withLock {
            guard sabotagedRestores > 0 else { return false }
            sabotagedRestores -= 1
            return true
        }
    }

    /// The finding that quarantined this context (nil unless quarantined).
    var quarantineFinding: CorruptionFinding? { lock.withLock { currentState == .quarantined ? quarantinedBy : nil } }

    // MARK: - Silent corruption

    /// Digests the weights on the device against the source's (webgpu; nil for webnn, which
    /// computes from the pool's own sealed weights).
    func scrub() throws -> ScrubResult? {
        guard backend == .webgpu else { return nil }
        let live: any ContextEngine = try lock.withLock {
            guard let engine else { throw VulkanError.deviceLost("\(name): device destroyed") }
            return engine
        }
        return try live.scrub()
    }

    /// Corrupts `component`'s weights on the device (a fault).
    func corrupt(_ component: ModelComponent, _ spec: CorruptionSpec) throws -> CorruptionRecord {
        let live: any ContextEngine = try lock.withLock {
            guard backend == .webgpu, let engine else { throw PoolError.unknownTarget("\(name) has no device weights to corrupt") }
            return engine
        }
        return try live.corrupt(component, spec)
    }

    /// Uploads `components` again from the source, replacing what the device holds (a restore
    /// after silent corruption). Returns the bytes.
    func reload(_ components: [ModelComponent]) throws -> Int {
        try lock.withLock {
            guard backend == .webgpu, let engine else { throw VulkanError.deviceLost("\(name) has no device") }
            var bytes = 0
            for c in components {
                bytes += try engine.load(c, from: environment.weights)
                held.insert(c)
            }
            log.addUploaded(bytes)
            return bytes
        }
    }

    // MARK: - Recovery

    /// A new channel on the same device (thread isolation), or a new connection to the same
    /// process and device (process isolation): no weights move.
    func reconnect() throws -> [RecoveryStep] {
        try lock.withLock {
            guard let engine, engine.canReconnect else { throw VulkanError.deviceLost("\(name): cannot reconnect a destroyed device") }
            let start = ContinuousClock.now
            let detail = try engine.reconnect()
            engineGeneration += 1  // a loss met on the old channel is not the new one's
            transition(to: .ready, "reconnected")
            return [RecoveryStep(name: host == nil ? "queue_creation" : "reconnect", context: name, since: start, on: log, detail: detail)]
        }
    }

    /// Releases whatever is left of the old device (cleanup before a rebuild). In process
    /// isolation a process that still lives but cannot serve (hung) is killed: a hung queue
    /// cannot be reclaimed from outside.
    func tearDown() -> RecoveryStep {
        lock.withLock {
            let start = ContinuousClock.now
            var detail: String?
            detail = engine?.reclaim(context: name)
            engine?.release(reason: "cleanup before rebuild")
            engine = nil
            engineGeneration += 1
            held = []
            knownLost = []
            return RecoveryStep(name: "cleanup", context: name, since: start, on: log, detail: detail)
        }
    }
}
