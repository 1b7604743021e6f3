import BrowserProtocol
import BrowserLaunch
import Foundation
import Transformer
import TransformerGPU
import VulkanCompute

/// Process isolation: a context served by its browser's process over a socket. Several requests
/// are in flight at once (`RequestPipeline`); each has a deadline from when it runs. A run or
/// heartbeat that outlasts the watchdog is a hang, and
/// the watchdog kills the process as Chrome's GPU watchdog does (a hung queue cannot be
/// reclaimed from outside). A broken connection is a crash when the process has ended and a
/// lost connection when it lives, which is what the pool's recovery then repairs.
final class RemoteEngine: ContextEngine, @unchecked Sendable {  // mutable state under `lock`
    let name: String
    let host: BrowserHost
    let process: BrowserProcess
    let deviceSerial: Int
    let deviceName: String
    let deviceIdentity: String
    private let watchdog: Duration
    private let startDeadline: Duration
    private let token: String
    private let window: Int
    private let lock = NSLock()
    private var pipeline: RequestPipeline?
    private var nextID: UInt64 = 1
    private var known: Set<ModelComponent> = []
    private var bytesHeld = 0
    private var weightsOf: [ModelComponent: Int] = [:]
    /// Shards already run once here: a shard's first dispatch compiles its pipelines (lavapipe
    /// JITs then), so only later runs are held to the watchdog.
    private var warmed: Set<[ModelComponent]> = []

    /// Connects to `context` in `process` and reads its welcome (the start steps, on the
    /// context's first connection to this process).
    /// `window`: requests in flight at most on the connection.
    init(context: String, host: BrowserHost, process: BrowserProcess, token: String, watchdog: Duration,
         startDeadline: Duration, window: Int) throws {
        name = context
        self.window = window
        self.host = host
        self.process = process
        self.token = token
        self.watchdog = watchdog
        self.startDeadline = startDeadline
        let (connection, welcome) = try Self.handshake(context, host: host, process: process, token: token, deadline: startDeadline,
                                                       watchdog: watchdog)
        guard case let .welcome(_, pid, _, device, identity, serial, steps, compute) = welcome, pid == process.pid else {
            connection.close()
            throw VulkanError.deviceLost("\(context): the welcome did not come from pid \(process.pid)")
        }
        process.watchForDeath()
        deviceName = device
        deviceIdentity = identity
        deviceSerial = Int(serial)
        startupSteps = steps
        kernelsSummary = "\(compute) (browser process pid \(pid))"
        pipeline = makePipeline(connection)
    }

    /// The worker's start steps (empty unless this connection was the context's first).
    let startupSteps: [WireStep]

    /// The start can take long (lavapipe compiles the pipelines cold), so it has no short
    /// deadline: a process that stops making progress for the watchdog's time is frozen, and
    /// is killed as a hung one is.
    private static func handshake(_ context: String, host: BrowserHost, process: BrowserProcess, token: String,
                                  deadline: Duration, watchdog: Duration) throws -> (Connection, Message) {
        let liveness = ProcessLiveness(pid: process.pid, threshold: watchdog)
        do {
            let connection = try host.dial(context)
            return (connection, try Handshake.greet(connection, token: token, deadline: deadline, slice: Self.slice(watchdog),
                                                    alive: liveness.check))
        } catch let error as ConnectionError {
            if case .stalled(let why) = error { throw Self.frozen(process, host: host, context: context, why, stage: "start") }
            throw Self.loss(error, process: process, context: context, stage: "connect")
        }
    }

    /// How often a long wait looks at the process.
    static func slice(_ watchdog: Duration) -> Duration { max(.milliseconds(20), min(watchdog / 4, .milliseconds(250))) }

    /// A frozen process is killed (it can be reclaimed no other way) and the context counts as crashed.
    static func frozen(_ process: BrowserProcess, host: BrowserHost, context: String, _ why: String, stage: String) -> VulkanError {
        process.kill(SIGKILL, reason: "watchdog: \(why)")
        host.recordWatchdog(context: context, waited: 0, pid: process.pid, why: why)
        _ = process.waitUntilExited(within: 2000)
        return .deviceLost("watchdog: \(context) froze during \(stage): \(why); browser process pid \(process.pid) killed")
    }

    var pid: Int32 { process.pid }
    let kernelsSummary: String
    var loadedComponents: Set<ModelComponent> { lock.withLock { known } }
    var weightBytes: Int { lock.withLock { bytesHeld } }
    var canReconnect: Bool { !process.hasExited }

    // MARK: - Serving

    func load(_ component: ModelComponent, from weights: WeightStore) throws -> Int {
        let reply = try request(deadline: startDeadline) { .load(id: $0, components: [component.id]) }
        guard case let .ok(_, bytes, _) = reply else { throw unexpected(reply) }
        lock.withLock {
            known.insert(component)
            bytesHeld += Int(bytes) - (weightsOf[component] ?? 0)
            weightsOf[component] = Int(bytes)
        }
        return Int(bytes)
    }

    func unload(_ component: ModelComponent) {
        _ = try? request(deadline: watchdog) { .unload(id: $0, components: [component.id]) }
        forget(component)
    }

    private func forget(_ component: ModelComponent) {
        lock.withLock {
            known.remove(component)
            bytesHeld -= weightsOf.removeValue(forKey: component) ?? 0
        }
    }

    func run(_ components: [ModelComponent], state: inout ActivationState) throws {
        let first = lock.withLock { !warmed.contains(components) }
        let tensors = WireActivations.tensors(for: state, startsWithEmbeddings: components.first == .embeddings)
        let reply = try request(deadline: first ? startDeadline : watchdog, watched: !first) {
            .run(id: $0, components: components.map(\.id), tensors: tensors)
        }
        guard case let .ran(_, result) = reply else { throw unexpected(reply) }
        try WireActivations.apply(result, to: &state)
        _ = lock.withLock { warmed.insert(components) }
    }

    func heartbeat(deadline: Duration) throws {
        let micros = UInt64(max(0, deadline.seconds) * 1e6)
        let reply = try request(deadline: min(deadline, watchdog), watched: true) { .heartbeat(id: $0, deadlineMicros: micros) }
        guard case let .alive(_, ids) = reply else { throw unexpected(reply) }
        let loaded = Set(ids.compactMap(ModelComponent.init(id:)))
        for gone in loadedComponents.subtracting(loaded) { forget(gone) }
    }

    func reconnect() throws -> String {
        guard !process.hasExited else { throw VulkanError.deviceLost("\(name): browser process pid \(process.pid) \(process.exit?.description ?? "has ended")") }
        let (connection, welcome) = try Self.handshake(name, host: host, process: process, token: token, deadline: startDeadline,
                                                       watchdog: watchdog)
        guard case let .welcome(_, pid, _, _, _, serial, _, _) = welcome, pid == process.pid, Int(serial) == deviceSerial else {
            connection.close()
            throw VulkanError.deviceLost("\(name): reconnected to a different process or device")
        }
        let fresh = makePipeline(connection)
        lock.withLock { pipeline = fresh }
        return "new connection to pid \(pid), same device #\(serial) (weights intact)"
    }

    // MARK: - Faults (real: a socket, a process, a hung queue)

    func dropConnection() -> String {
        let dropped = lock.withLock { () -> Connection? in defer { pipeline = nil }; return pipeline?.connection }
        dropped?.shutDown()
        dropped?.close()
        return "shut down the socket to \(name) in both directions (pid \(process.pid) and device #\(deviceSerial) live on)"
    }

    func failComponent(_ component: ModelComponent) -> String {
        do {
            _ = try request(deadline: startDeadline) { .faultControl(id: $0, action: "drop_component", argument: component.id) }
            return "fault-control request: pid \(process.pid) released \(component.id) weight buffers and recorded batches of \(name) (a deliberate teardown in a live process)"
        } catch {
            return "fault-control request to drop \(component.id) on \(name) failed: \(error)"
        }
    }

    func crash() -> String {
        guard !process.hasExited else { return "\(name): browser process pid \(process.pid) already ended" }
        // Counted with no reply taken in between: the requests the kill catches inside the process.
        let caught = (lock.withLock { pipeline }?.holdingReplies { inFlight -> Int in
            process.kill(SIGKILL, reason: "browser_crash fault")
            return inFlight
        }) ?? { process.kill(SIGKILL, reason: "browser_crash fault"); return 0 }()
        lock.withLock { caughtByKill = caught }
        return "SIGKILL to \(process.browser)'s process (pid \(process.pid)) with \(caught) request\(caught == 1 ? "" : "s") in flight"
    }

    /// Requests sent to the process and not yet answered.
    var requestsInFlight: Int { lock.withLock { pipeline }?.inFlight ?? 0 }
    /// How many requests the last `crash()` caught unanswered inside the process.
    var requestsCaughtByKill: Int? { lock.withLock { caughtByKill } }
    private var caughtByKill: Int?

    func scrub() throws -> ScrubResult {
        // Reads every weight once: held to the start deadline, like a load, not to the watchdog.
        let reply = try request(deadline: startDeadline) { .scrub(id: $0) }
        guard case let .scrubbed(_, findings, bytes, seconds) = reply else { throw unexpected(reply) }
        return ScrubResult(findings: findings.map { CorruptionFinding(wire: $0) ?? CorruptionFinding(detector: .scrub, detail: $0) },
                           bytes: Int(bytes), seconds: seconds)
    }

    func corrupt(_ component: ModelComponent, _ spec: CorruptionSpec) throws -> CorruptionRecord {
        let reply = try request(deadline: startDeadline) {
            .faultControl(id: $0, action: "corrupt", argument: "\(component.id)\u{1F}\(spec.wire)")
        }
        guard case let .note(_, text) = reply, let record = try? JSONDecoder().decode(CorruptionRecord.self, from: Data(text.utf8)) else {
            throw unexpected(reply)
        }
        return record
    }

    /// browser_freeze: SIGSTOP to the browser's process: it lives, holds its devices, answers nothing.
    func freeze() -> String {
        guard !process.hasExited else { return "\(name): browser process pid \(process.pid) already ended" }
        let stopped = process.freeze()
        return "SIGSTOP to \(process.browser)'s process (pid \(process.pid)): alive, answering nothing"
            + (stopped ? "" : " (not every thread had stopped after 5 s)")
    }

    /// gpu_hang: the process starts a dispatch that never finishes on this context's queue.
    /// Fault control does work (building the hang's kernel): it is held to the start deadline,
    /// not the watchdog, which would take the slow build for the hang itself.
    func hang() throws -> String {
        _ = try request(deadline: startDeadline) { .faultControl(id: $0, action: "hang", argument: "") }
        return "a dispatch that spins on a flag nobody sets, on \(name)'s queue in pid \(process.pid)"
    }

    func reclaim(context: String) -> String? {
        guard !process.hasExited else { return nil }
        process.kill(SIGKILL, reason: "cleanup before rebuild of \(context)")
        process.waitForExit(timeout: .seconds(2))
        return "SIGKILL to pid \(process.pid), which could not serve"
    }

    func release(reason: String) {
        let old = lock.withLock { () -> Connection? in defer { pipeline = nil }; return pipeline?.connection }
        old?.close()
    }

    // MARK: - Requests

    /// The connection's pipeline. Its first failure drops the connection and becomes the error
    /// every request in flight gets: a frozen process is killed, a watched request's missed
    /// deadline is a hang (the watchdog kills the process), anything else a loss.
    private func makePipeline(_ connection: Connection) -> RequestPipeline {
        let watcher = { [pid = process.pid, watchdog] in ProcessLiveness(pid: pid, threshold: watchdog).check }
        return RequestPipeline(connection: connection, window: window, slice: Self.slice(watchdog), watcher: watcher) {
            [name, process, host, unowned self] error, ticket, waited in
            lock.withLock { if pipeline?.connection === connection { pipeline = nil } }
            connection.close()
            if case .stalled(let why) = error { return Self.frozen(process, host: host, context: name, why, stage: "a request") }
            if case .deadline = error, let ticket, ticket.watched {
                process.kill(SIGKILL, reason: "watchdog: \(name) did not answer within \(String(format: "%.3f", ticket.deadline.seconds)) s")
                host.recordWatchdog(context: name, waited: waited.seconds, pid: process.pid,
                                    why: String(format: "no answer after %.3f s", waited.seconds))
                // Known dead before the error moves on: the context is crashed, not disconnected.
                _ = process.waitUntilExited(within: 2000)
                return VulkanError.deviceLost(String(format: "watchdog: %@ did not answer within %.3f s; browser process pid %d killed",
                                                     name, ticket.deadline.seconds, process.pid))
            }
            return Self.loss(error, process: process, context: name, stage: "request")
        }
    }

    /// Sends one request and waits for its reply within `deadline` of its running. `watched`:
    /// a missed deadline is a hang (the watchdog); else a long wait is watched for progress.
    private func request(deadline: Duration, watched: Bool = false, _ make: (UInt64) -> Message) throws -> Message {
        let (live, id) = try lock.withLock { () throws -> (RequestPipeline, UInt64) in
            guard let pipeline else {
                if process.hasExited { throw VulkanError.deviceLost("\(name): browser process pid \(process.pid) \(process.exit?.description ?? "ended")") }
                throw VulkanError.queueLost("\(name): no connection to pid \(process.pid) (lost)")
            }
            defer { nextID += 1 }
            return (pipeline, nextID)
        }
        let reply = try live.request(make(id), id: id, deadline: deadline, watched: watched)
        if case let .failed(_, failure, message) = reply {
            throw Self.error(failure, message, context: name)
        }
        return reply
    }

    /// A broken connection as the pool must read it: the process ended (a crash: device lost)
    /// or lives on (a lost connection: queue lost). EOF can arrive a moment before the kernel
    /// marks the process exited, so a closed socket waits briefly on the pidfd.
    static func loss(_ error: ConnectionError, process: BrowserProcess, context: String, stage: String) -> VulkanError {
        var closed = false
        if case .closed = error { closed = true }
        if process.hasExited || (closed && process.waitUntilExited(within: 2)) {
            return .deviceLost("\(context): browser process pid \(process.pid) \(process.exit?.description ?? "ended") (\(stage): \(error))")
        }
        if case let .deadline(_, seconds) = error { return .timeout(stage: "\(context) \(stage) (pid \(process.pid))", seconds: seconds) }
        return .queueLost("\(context): connection to pid \(process.pid) lost (\(stage): \(error))")
    }

    static func error(_ failure: WireFailure, _ message: String, context: String) -> any Error {
        switch failure {
        case .deviceLost: return VulkanError.deviceLost(message)
        case .queueLost: return VulkanError.queueLost(message)
        case .timeout: return VulkanError.timeout(stage: message, seconds: 0)
        case .componentMissing: return GPUModelError.componentMissing(message)
        case .invalidRequest, .internalError: return PoolError.isolation("\(context): the browser process refused a request: \(message)")
        case .corruption: return CorruptionFinding(wire: message) ?? CorruptionFinding(detector: .checksum, detail: message)
        }
    }

    private func unexpected(_ reply: Message) -> PoolError {
        .isolation("\(name): unexpected reply \(reply)")
    }
}
