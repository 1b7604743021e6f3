import Foundation
import Transformer
import TransformerGPU
import VulkanCompute

/// The resource pool: browser contexts, the shard plan and its placement, the routing table the
/// router follows (and fails over), and the verification probe every recovery checks against.
public final class Pool: @unchecked Sendable {  // mutable state under `lock`
    public let configuration: PoolConfiguration
    public let environment: GPUEnvironment
    public let plan: ShardPlan
    /// Where each shard is meant to live.
    public let placement: Placement
    public let contexts: [BrowserContext]
    /// Thread isolation, queue mode: the one device every webgpu context has a queue of.
    public let sharedDevice: ComputeDevice?
    /// Process isolation: each webgpu browser's process host, and the run's private directory.
    let hosts: [String: BrowserHost]
    let runDirectory: RunDirectory?
    public let events: EventLog
    let probe: ReferenceTrace
    let gate: RequestGate
    /// Silent corruption caught, and contexts isolated for it.
    let corruption: CorruptionLedger
    /// Crash counts and rungs (hardware → software Vulkan → CPU) of every browser.
    let ladder: DegradationLadder
    /// cascading_failure's second fault, waiting for the recovery it strikes in.
    public let cascade = Cascade()
    private let lock = NSLock()
    /// Where each shard is served now: a context name, or `Pool.cpuFallback`.
    private var routes: [String]
    /// Seeded by `configuration.seed`: drawn fault targets and backoff jitter repeat with the
    /// seed. Nothing decides success at random; every verdict comes from a real comparison.
    private var random: Xoshiro256StarStar

    /// The route name of the pool's own CPU path: the last resort, always "degraded".
    public static let cpuFallback = "cpu"

    public var config: ModelConfig { environment.config }

    /// `origin`: the instant the run started; every time the pool records (events, steps,
    /// spans) is seconds since then, so the scenarios of a run share one clock.
    /// `clock`: a virtual clock for the pool's time (scripted engines); the real one otherwise.
    public init(configuration: PoolConfiguration, environment: GPUEnvironment, origin: ContinuousClock.Instant = .now,
                clock: VirtualClock? = nil) throws {
        events = clock.map { EventLog(virtual: $0) } ?? EventLog(origin: origin)
        gate = RequestGate(clock: clock)
        corruption = CorruptionLedger(verifyEvery: configuration.verifyEvery)
        self.configuration = configuration
        self.environment = environment
        let names = configuration.contextNames
        for name in Set(configuration.browsers) {
            if let why = PoolConfiguration.problem(withBrowserName: name) { throw PoolError.configuration(why) }
        }
        plan = try Pool.plan(for: configuration, config: environment.config)
        placement = Placement.spread(shards: plan.shards.count, over: names.map(\.name))
        routes = placement.contexts
        random = Xoshiro256StarStar(seed: configuration.seed)
        let log = events
        let gpuCount = names.filter { !configuration.webnnBrowsers.contains($0.browser) }.count
        // Scripted engines stand in for either isolation: they spawn nothing.
        let process = configuration.isolation == .process && environment.engines == nil
        let sharedDevice = process ? nil : try Pool.sharedDevice(for: configuration, environment: environment, contexts: gpuCount)
        self.sharedDevice = sharedDevice
        let directory = process ? try RunDirectory(longestContext: names.map(\.name).max { $0.utf8.count < $1.utf8.count } ?? "") : nil
        runDirectory = directory
        var hosts: [String: BrowserHost] = [:]
        let noticed = ProcessNotice()
        if let directory {
            let executable = try configuration.workerExecutable ?? Pool.ownExecutable()
            for browser in Set(names.map(\.browser)) where !configuration.webnnBrowsers.contains(browser) {
                hosts[browser] = BrowserHost(browser: browser, contexts: names.filter { $0.browser == browser }.map(\.name),
                                             directory: directory, environment: environment, configuration: configuration,
                                             executable: executable, log: log, onExit: noticed.callback)
            }
            self.hosts = hosts
        } else {
            self.hosts = [:]
        }
        var gpuIndex = 0
        contexts = names.map { entry in
            let backend: BrowserContext.Backend = configuration.webnnBrowsers.contains(entry.browser) ? .webnn : .webgpu
            var shared: (device: ComputeDevice, queue: Int)?
            if let device = sharedDevice, backend == .webgpu {
                shared = (device, gpuIndex % device.queueCount)
                gpuIndex += 1
            }
            return BrowserContext(name: entry.name, browser: entry.browser, backend: backend, environment: environment, log: log,
                                  breaker: CircuitBreaker(threshold: configuration.breakerThreshold,
                                                          cooldown: configuration.breakerCooldown, clock: { log.now }),
                                  shared: shared, host: hosts[entry.browser], configuration: configuration,
                                  token: directory?.token ?? "")
        }
        probe = try ReferenceTrace(input: ModelInput.seeded(config: environment.config, seed: configuration.seed &+ 1), plan: plan,
                                   cpu: environment.cpu)
        var rungs: [String: Rung] = [:]
        for entry in names {
            if configuration.webnnBrowsers.contains(entry.browser) { rungs[entry.browser] = .cpu; continue }
            let index = configuration.browserDevices[entry.browser] ?? environment.initialDevice.index
            let software = environment.physicalDevices.indices.contains(index) ? environment.physicalDevices[index].isSoftware : true
            rungs[entry.browser] = (configuration.crashPolicy.hardwareDevices.map { $0.contains(index) } ?? !software) ? .hardware : .software
        }
        ladder = DegradationLadder(policy: configuration.crashPolicy, startingRungs: rungs)
        noticed.pool = self
    }

    /// Queue mode: one device with a queue per context, when the GPU offers enough queues (or
    /// sharing is allowed). Otherwise nil: a VkDevice per context.
    static func sharedDevice(for configuration: PoolConfiguration, environment: GPUEnvironment, contexts: Int) throws -> ComputeDevice? {
        guard configuration.contextMode == .queue, contexts > 0 else { return nil }
        guard Set(configuration.browserDevices.values).count <= 1 else { return nil }  // a device each: no one shared device
        let physical = try environment.choosePhysicalDevice(identity: configuration.browserDevices.values.first
            .flatMap { environment.physicalDevices.indices.contains($0) ? environment.physicalDevices[$0].identity : nil }).device
        let queues = physical.info.computeFamily?.count ?? 1
        guard queues >= contexts || configuration.allowSharedQueues else { return nil }
        return try environment.makeDevice(physical, label: "shared", queueCount: contexts)
    }

    public func context(named name: String) -> BrowserContext? { contexts.first { $0.name == name } }

    /// The CPU reference's states at this pool's shard boundaries for `input`.
    public func reference(for input: ModelInput) throws -> ReferenceTrace {
        try ReferenceTrace(input: input, plan: plan, cpu: environment.cpu)
    }

    /// Checks, before any work, that `configuration`'s browser processes have somewhere to put
    /// their sockets (TMPDIR). Throws `.environment` naming the fix; returns a note when the
    /// sockets go elsewhere than TMPDIR. Nothing to check in thread isolation.
    @discardableResult
    public static func checkEnvironment(for configuration: PoolConfiguration) throws -> String? {
        guard configuration.isolation == .process else { return nil }
        let longest = configuration.contextNames.map(\.name).max { $0.utf8.count < $1.utf8.count } ?? ""
        return try RunDirectory.base(longestContext: longest).note
    }

    /// The shard plan a pool with `configuration` will have (to compute reference traces before the pool exists).
    public static func plan(for configuration: PoolConfiguration, config: ModelConfig) throws -> ShardPlan {
        try ShardPlan.make(configuration.shardType, config: config, shardCount: configuration.shardCount ?? configuration.contextNames.count)
    }

    /// The routing table now.
    public var currentRoute: Placement { lock.withLock { Placement(contexts: routes) } }

    func setRoute(_ shard: Int, to context: String) {
        lock.withLock {
            guard routes[shard] != context else { return }
            events.record("route", context: context, "shard \(shard): \(routes[shard]) → \(context)")
            routes[shard] = context
        }
    }

    /// Replaces the whole routing table at once (a coordinated switch).
    func setRoutes(_ table: [String]) {
        lock.withLock {
            events.record("route", "switch: \(routes.joined(separator: ",")) → \(table.joined(separator: ","))")
            routes = table
        }
    }

    /// A loss that is news, said and counted against the breaker: the one place either happens.
    func noticed(_ context: BrowserContext, _ what: String) {
        events.record("noticed", context: context.name, what)
        countFailure(of: context)
    }

    /// How many losses were news so far (a recovery round that meets a new one goes round again).
    var lossesNoticed: Int { events.lossesNoticed }

    /// A seeded uniform draw in [0, 1) (targets, jitter).
    func draw() -> Double { lock.withLock { Double(random.next() >> 11) / Double(1 << 53) } }

    /// Starts every context and uploads the weights of the shards placed on it. The steps are
    /// the `initialize` phase's breakdown.
    public func initialize() throws -> [RecoveryStep] {
        var steps: [RecoveryStep] = []
        for context in contexts {
            let started = try context.start(reason: "initialized")
            for step in started { events.span(step.name, category: "initialize", context: step.context, start: step.start, duration: step.duration) }
            steps += started
            let components = placement.shards(on: context.name).flatMap { plan.shards[$0].components }
            let began = ContinuousClock.now
            let (bytes, _) = try context.load(components)
            steps.append(RecoveryStep(name: "weight_upload", context: context.name, since: began, on: events, bytes: bytes))
        }
        for (i, shard) in plan.shards.enumerated() {
            guard let home = context(named: placement.contexts[i]) else { continue }
            let start = ContinuousClock.now
            try verify(shard: i, on: home)
            let step = RecoveryStep(name: "first_dispatch", context: home.name, since: start, on: events,
                                    detail: "shard \(shard.index) checked against the CPU reference")
            events.span(step.name, category: "initialize", context: home.name, start: step.start, duration: step.duration,
                        args: ["detail": step.detail ?? ""])
            steps.append(step)
        }
        events.record("pool", "initialized: \(placement)")
        return steps
    }

    /// Runs shard `i` of the probe on `context` and checks it against the CPU reference.
    func verify(shard i: Int, on context: BrowserContext) throws {
        var state = probe.states[i]
        try context.run(plan.shards[i].components, state: &state)
        try probe.check(state, after: i)
    }

    /// Releases every device (end of a scenario): in process isolation every browser process
    /// is ended in order (SIGTERM: it destroys its devices and flushes its validation log;
    /// SIGKILL past the deadline) and reaped, the workers' validation messages join this
    /// process's log, and the run directory goes.
    public func shutdown() {
        for host in hosts.values { host.beginShutdown() }
        for process in hosts.values.flatMap({ $0.shutdown() }) {
            // Said, so a validated run cannot pass on checks that never ran.
            environment.instance?.validationLog?.record(ValidationMessage(
                severity: .warning, id: "poolfault-orderly-end",
                text: "browser process \(process.browser) (pid \(process.pid)) did not end in order within \(BrowserProcess.orderlyExitDeadline) and was killed: the layer's checks at its device destruction did not run"))
        }
        for context in contexts { _ = context.tearDown() }
        sharedDevice?.destroy(reason: "pool shut down")
        if let runDirectory {
            for line in runDirectory.validationLines() {
                let fields = line.split(separator: "\t", maxSplits: 2).map(String.init)
                guard fields.count == 3 else { continue }
                environment.instance?.validationLog?.record(ValidationMessage(severity: fields[0] == "error" ? .error : .warning,
                                                                             id: fields[1], text: "browser process \(fields[2])"))
            }
            runDirectory.remove()
        }
    }

    /// Every silent corruption caught so far, in order.
    public var corruptionDetections: [CorruptionDetection] { corruption.detections }
    /// Contexts isolated as bad hardware (their weights went wrong again after a restore), with why.
    public var isolatedContexts: [String: String] { corruption.isolated }

    /// Every demotion so far (the report's).
    public var demotions: [Demotion] { ladder.demotions }

    /// A browser's rung on the degradation ladder now.
    public func rung(of browser: String) -> Rung { ladder.rung(of: browser) }

    /// Counts a crash of `context`'s browser; a demotion is recorded now and moves every context
    /// of the browser down a rung at its next rebuild (`applyDemotion`).
    func countCrash(of context: BrowserContext, _ why: String) {
        guard let demotion = ladder.crashed(context.browser, at: events.now) else { return }
        events.record("demoted", context: context.name,
                      "\(context.browser): \(demotion.from.label) → \(demotion.to.label) after \(demotion.reason) (last: \(why)); from its next rebuild")
    }

    /// Applies a demotion decided since the browser's contexts last started.
    func applyDemotion(to context: BrowserContext) {
        guard let rung = ladder.takeDemotion(of: context.browser) else { return }
        for sibling in contexts where sibling.browser == context.browser { sibling.demote(to: rung) }
    }

    /// Waits, at most `timeout`, until the pool has been told how every browser process that has
    /// ended ended (its reaper records an unplanned end as `unplanned_exit`): a recovery that
    /// failed because a browser died meanwhile can then be told from one that failed on its own.
    public func awaitEndingsReported(within timeout: Duration) {
        for process in hosts.values.flatMap(\.allProcesses) where process.hasExited {
            process.waitUntilReported(timeout: timeout)
        }
    }

    /// Every browser process this pool started, alive or not (tests check none is left).
    public var browserProcessIDs: [Int32] { hosts.values.flatMap { $0.allProcesses.map(\.pid) } }

    /// This executable, to start in its worker role.
    static func ownExecutable() throws -> String {
        guard let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else {
            throw PoolError.isolation("cannot find this executable (/proc/self/exe) to start browser processes")
        }
        return path
    }

    /// A browser process is dying (its death watch fired: `ending` nil) or has been reaped.
    /// Every context it served has lost its device; an end the pool did not cause is recorded
    /// as unplanned (once, when it is reaped).
    func processEnded(_ process: BrowserProcess, _ ending: BrowserProcess.Ending?, planned: String?) {
        let how = ending.map(\.description) ?? "is dying (its death watch fired)"
        let why = "browser process pid \(process.pid) \(how)" + (planned.map { " (\($0))" } ?? " (unplanned: not caused by poolfault)")
        if ending != nil {
            events.record(planned == nil ? "unplanned_exit" : "process", context: hosts[process.browser]?.contexts.first, why)
        }
        for context in contexts where context.browser == process.browser {
            if context.processEnded(pid: process.pid, why) {
                noticed(context, (ending == nil ? "death watch: " : "waitpid: ") + why)
            }
        }
    }
}

/// Carries a browser process's end from its reaper thread to the pool (set once the pool
/// exists; the hosts are made before it is).
final class ProcessNotice: @unchecked Sendable {  // `pool` under `lock`
    private let lock = NSLock()
    private weak var stored: Pool?
    var pool: Pool? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
    var callback: @Sendable (BrowserProcess, BrowserProcess.Ending?, String?) -> Void {
        { [self] process, ending, planned in pool?.processEnded(process, ending, planned: planned) }
    }
}

/// The CPU reference's state at every shard boundary for one input: what each shard's output
/// must match (the verification probe a recovery checks against, and the reference detector of
/// silent corruption on every verified request), and the whole model's output.
public struct ReferenceTrace: Sendable {
    /// states[0]: the input; states[i + 1]: after shard i.
    public let states: [ActivationState]

    public init(input: ModelInput, plan: ShardPlan, cpu: CPUReference) throws {
        var state = try ActivationState.initial(input, config: cpu.config)
        var states = [state]
        for shard in plan.shards {
            try cpu.run(shard.components, state: &state)
            states.append(state)
        }
        self.states = states
    }

    /// Throws unless `state` matches the reference after shard `i`.
    func check(_ state: ActivationState, after i: Int) throws {
        if let why = mismatch(state, after: i) { throw PoolError.verificationFailed("shard \(i)\(why)") }
    }

    /// Nil when `state` matches the reference after shard `i`; else how it differs.
    func mismatch(_ state: ActivationState, after i: Int) -> String? {
        let expected = states[i + 1]
        let hidden = NumericComparison(actual: state.hidden, reference: expected.hidden)
        guard hidden.passes() else { return ": \(hidden)" }
        if let p = expected.pooled {
            let pooled = NumericComparison(actual: state.pooled ?? [], reference: p)
            guard pooled.passes() else { return " pooler: \(pooled)" }
        }
        return nil
    }

    /// The whole model's reference output.
    public var output: ModelOutput { states[states.count - 1].output }
}

/// Failures of the pool's own logic (not Vulkan's).
public enum PoolError: Error, Sendable, CustomStringConvertible {
    case verificationFailed(String)
    case noContext(String)
    case unknownTarget(String)
    case quiesceTimeout(String)
    /// Process isolation could not be set up or used (spawn, sockets, run directory).
    case isolation(String)
    /// The configuration cannot make a pool (a browser name that is not one).
    case configuration(String)
    /// The environment cannot host browser processes (TMPDIR): the tool's problem, not the hardware's.
    case environment(String)

    public var description: String {
        switch self {
        case .verificationFailed(let why): return "verification against the CPU reference failed: \(why)"
        case .noContext(let why): return "no context can serve: \(why)"
        case .unknownTarget(let why): return "unknown fault target: \(why)"
        case .quiesceTimeout(let why): return "requests did not drain in time: \(why)"
        case .isolation(let why): return "browser process: \(why)"
        case .configuration(let why): return "pool configuration: \(why)"
        case .environment(let why): return why
        }
    }
}
