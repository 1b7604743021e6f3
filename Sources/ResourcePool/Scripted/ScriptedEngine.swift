import Foundation
import Transformer
import TransformerGPU
import VulkanCompute

/// Makes a webgpu context's engine at each start (and rebuild). The pool uses its own
/// (`LocalEngine`, `RemoteEngine`) unless the environment carries one of these.
protocol EngineFactory: Sendable {
    /// A started engine for `context`, or the typed loss a failed start throws.
    func start(context: String, weights: WeightStore, cpu: CPUReference) throws -> any ContextEngine
}

/// A fault schedule for scripted engines. Faults strike at numbered engine operations, counted
/// over the whole pool (every start, load, run, heartbeat and reconnect of every context), so a
/// seed places them anywhere: in initialize, serving, failover and every step of recovery.
final class Script: EngineFactory, @unchecked Sendable {  // state under `lock`
    enum Fault: String, Sendable, CaseIterable {
        /// The device is gone: every later operation throws deviceLost (rebuild).
        case crash
        /// The queue is gone, the device and weights live: later operations throw queueLost (reconnect).
        case disconnect
        /// One loaded component's weights are gone: a run that needs it throws componentMissing.
        case dropComponent = "drop_component"
        /// One loaded component's weights go wrong, silently: runs through it answer wrong, and a
        /// scrub finds it, until it is uploaded again from the source.
        case corrupt
        /// The operation never returns: its deadline (a heartbeat's own, else the watchdog's)
        /// passes on the virtual clock and the watchdog kills the browser, so it throws
        /// deviceLost exactly that much (virtual) time later, as a hung dispatch in a browser
        /// process does.
        case hang
    }

    /// What struck, where: for the replay line and the invariants.
    struct Strike: Sendable, CustomStringConvertible {
        let step: Int, fault: Fault, context: String, operation: String
        var description: String { "\(fault.rawValue) of \(context) at step \(step) (\(operation))" }
    }

    private let lock = NSLock()
    private var pending: [Int: Fault]
    /// Work another thread does while a scheduled fault's error is on its way back to the
    /// caller (a recovery replacing the engine the request failed on): concurrency's
    /// interleavings, placed exactly.
    private var meanwhile: [Int: @Sendable (Strike) -> Void] = [:]
    private(set) var step = 0
    private var done: [Strike] = []
    private var serials = 0
    private var live: Set<ObjectIdentifier> = []

    /// Whether an upload goes through the queue, and so fails while it is lost: a discrete GPU's
    /// staged copy, or a browser process's socket; on unified memory (lavapipe in this process)
    /// an upload maps the memory and needs no queue.
    let uploadsNeedQueue: Bool
    /// A gpu_hang's fault-control request misses its deadline: the connection drops on the way,
    /// as a browser process's does, and the injection fails having damaged the context. (False:
    /// scripted engines cannot hang, and the injection is refused with nothing touched.)
    let faultControlMissesItsDeadline: Bool

    /// The pool's clock, which a hang moves on by its deadline (nil: a hang costs no time).
    let clock: VirtualClock?
    /// The watchdog's deadline for an operation that has none of its own.
    let watchdog: Duration

    init(faults: [Int: Fault], uploadsNeedQueue: Bool = true, faultControlMissesItsDeadline: Bool = false,
         clock: VirtualClock? = nil, watchdog: Duration = .seconds(2)) {
        pending = faults
        self.uploadsNeedQueue = uploadsNeedQueue
        self.faultControlMissesItsDeadline = faultControlMissesItsDeadline
        self.clock = clock
        self.watchdog = watchdog
    }

    /// The faults that struck so far, in order.
    var struck: [Strike] { lock.withLock { done } }
    /// Engines started and not released (a leak when the pool has shut down).
    var liveEngines: Int { lock.withLock { live.count } }

    /// Schedules `fault` at `step`, with `work` done after it strikes and before its caller
    /// hears of it.
    func strike(_ fault: Fault, at step: Int, meanwhile work: @escaping @Sendable (Strike) -> Void) {
        lock.withLock {
            pending[step] = fault
            meanwhile[step] = work
        }
    }

    /// Counts one operation of `context`; the fault scheduled for it, if any, and the work
    /// scheduled to happen before its caller hears of it.
    func next(_ operation: String, on context: String) -> (fault: Fault, meanwhile: (() -> Void)?)? {
        lock.withLock {
            step += 1
            guard let fault = pending.removeValue(forKey: step) else { return nil }
            let strike = Strike(step: step, fault: fault, context: context, operation: operation)
            done.append(strike)
            return (fault, meanwhile.removeValue(forKey: step).map { work in { work(strike) } })
        }
    }

    func start(context: String, weights: WeightStore, cpu: CPUReference) throws -> any ContextEngine {
        if let scheduled = next("start", on: context) {  // any fault at a start: the new device does not come up
            scheduled.meanwhile?()
            throw VulkanError.deviceLost("\(context) crashed while starting (scheduled)")
        }
        let engine = lock.withLock { () -> ScriptedEngine in
            serials += 1
            let made = ScriptedEngine(name: context, serial: serials, script: self, weights: weights, cpu: cpu)
            live.insert(ObjectIdentifier(made))
            return made
        }
        return engine
    }

    func released(_ engine: ScriptedEngine) { _ = lock.withLock { live.remove(ObjectIdentifier(engine)) } }
}

/// The pool's embedded engine: no device, process or socket. It computes the real answer on
/// the CPU reference (so every check the pool makes is a real check), holds a set of loaded
/// components, and fails exactly when its script says, with the typed loss a real engine throws.
final class ScriptedEngine: ContextEngine, @unchecked Sendable {  // state under `lock`
    let name: String
    let deviceSerial: Int
    private let script: Script
    private let weights: WeightStore
    private let cpu: CPUReference
    private let lock = NSLock()
    private var alive = true
    private var connected = true
    private var loaded: Set<ModelComponent> = []
    private var corrupted: Set<ModelComponent> = []
    private var released = false
    /// gpu_hang: the next operation hangs (a hung dispatch blocks everything after it).
    private var hangArmed = false

    init(name: String, serial: Int, script: Script, weights: WeightStore, cpu: CPUReference) {
        self.name = name
        deviceSerial = serial
        self.script = script
        self.weights = weights
        self.cpu = cpu
    }

    var deviceName: String { "scripted device" }
    var deviceIdentity: String { "scripted" }
    var pid: Int32 { getpid() }
    var kernelsSummary: String { "scripted (CPU reference)" }
    var loadedComponents: Set<ModelComponent> { lock.withLock { loaded } }
    var weightBytes: Int { lock.withLock { loaded.reduce(0) { $0 + $1.byteSize(in: weights.config) } } }
    var canReconnect: Bool { lock.withLock { alive } }
    var requestsInFlight: Int { 0 }
    var requestsCaughtByKill: Int? { nil }

    /// One operation: the scheduled fault strikes first, then the engine answers as it now is.
    /// `deadline`: the operation's own (a heartbeat's), else the watchdog's.
    private func perform(_ operation: String, needsQueue: Bool = true, deadline: Double? = nil) throws {
        let scheduled = script.next(operation, on: name)
        defer { scheduled?.meanwhile?() }  // before the caller hears of it, error or not
        try lock.withLock {
            let armed = hangArmed
            hangArmed = false
            switch scheduled?.fault ?? (armed ? .hang : nil) {
            case .hang?:
                let waited = deadline ?? script.watchdog.seconds
                script.clock?.advance(by: waited)
                alive = false
                throw VulkanError.deviceLost("\(name): \(operation) hung past its \(waited) s deadline; the watchdog killed the browser (scripted)")
            case .crash?: alive = false
            case .disconnect?: connected = false
            case .dropComponent?: if let first = loaded.sorted(by: { $0.id < $1.id }).first { loaded.remove(first) }
            case .corrupt?: if let first = loaded.sorted(by: { $0.id < $1.id }).first { corrupted.insert(first) }
            case nil: break
            }
            guard alive else { throw VulkanError.deviceLost("\(name): device lost (scripted)") }
            guard connected || !needsQueue else { throw VulkanError.queueLost("\(name): queue lost (scripted)") }
        }
    }

    func load(_ component: ModelComponent, from weights: WeightStore) throws -> Int {
        try perform("load", needsQueue: script.uploadsNeedQueue)
        lock.withLock {
            loaded.insert(component)
            corrupted.remove(component)  // from the source again
        }
        return component.byteSize(in: weights.config)
    }

    func unload(_ component: ModelComponent) {
        lock.withLock {
            loaded.remove(component)
            corrupted.remove(component)
        }
    }

    func run(_ components: [ModelComponent], state: inout ActivationState) throws {
        try perform("run")
        let (missing, wrong) = lock.withLock { (components.filter { !loaded.contains($0) }, !corrupted.isDisjoint(with: components)) }
        if let first = missing.first { throw GPUModelError.componentMissing("\(first.id) is not loaded on \(name)") }
        try cpu.run(components, state: &state)
        if wrong {  // silent: no error, an answer off by far more than any tolerance
            if !state.hidden.isEmpty { state.hidden[0] += 1 }
            if let pooled = state.pooled, !pooled.isEmpty { state.pooled![0] += 1 }
        }
    }

    func heartbeat(deadline: Duration) throws { try perform("heartbeat", deadline: deadline.seconds) }

    func reconnect() throws -> String {
        try perform("reconnect", needsQueue: false)
        lock.withLock { connected = true }
        return "new scripted queue on device #\(deviceSerial)"
    }

    func scrub() throws -> ScrubResult {
        try perform("scrub")
        let found = lock.withLock { corrupted.intersection(loaded).sorted { $0.id < $1.id } }
        return ScrubResult(findings: found.map { CorruptionFinding(detector: .scrub, component: $0.id, detail: "scripted corruption") },
                           bytes: weightBytes, seconds: 0)
    }

    func dropConnection() -> String {
        lock.withLock { connected = false }
        return "scripted queue of \(name) dropped"
    }

    func failComponent(_ component: ModelComponent) -> String {
        unload(component)
        return "scripted weights of \(component.id) on \(name) dropped"
    }

    func crash() -> String {
        lock.withLock { alive = false }
        return "scripted device #\(deviceSerial) of \(name) lost"
    }

    func freeze() throws -> String { throw PoolError.unknownTarget("browser_freeze needs a browser process: \(name) is scripted") }
    /// gpu_hang: the next operation never returns, until the deadline that ends it (`Fault.hang`).
    func hang() throws -> String {
        if script.faultControlMissesItsDeadline {
            lock.withLock { connected = false }
            throw VulkanError.timeout(stage: "\(name): the hang's fault-control request (scripted; its connection dropped)", seconds: 30)
        }
        lock.withLock { hangArmed = true }
        return "scripted: the next operation on \(name) never returns"
    }
    func reclaim(context: String) -> String? { nil }

    func corrupt(_ component: ModelComponent, _ spec: CorruptionSpec) throws -> CorruptionRecord {
        throw PoolError.unknownTarget("silent_corruption needs device memory: \(name) is scripted")
    }

    func release(reason: String) {
        let first = lock.withLock { () -> Bool in
            alive = false
            defer { released = true }
            return !released
        }
        if first { script.released(self) }
    }
}
