import Foundation
import ResourcePool
import Transformer

/// What a soak runs: faults under sustained load (Chaos Toolkit's steady-state hypothesis,
/// checked before, during and after each fault).
public struct SoakPlan: Sendable {
    public var duration: Duration
    public var clients: Int
    /// Mean time between planned faults; each is drawn ±25% with the seed.
    public var faultInterval: Duration
    public var faults: [FaultKind]
    public var strategy: RecoveryStrategyKind
    public var seed: UInt64
    /// Stop after this many requests (nil: run for `duration`), whatever the machine's speed.
    public var requests: Int?
    /// Stop after this many planned faults (nil: run for `duration`); with `requests` too, the
    /// soak ends once both are reached. A fault count, unlike a duration, is the same on every
    /// machine.
    public var faultCount: Int?
    /// How often every context's weights are scrubbed, and once more at the end (nil: never,
    /// but at the end if a corruption is still uncaught).
    public var scrubInterval: Duration?
    public init(duration: Duration, clients: Int, faultInterval: Duration, faults: [FaultKind], strategy: RecoveryStrategyKind, seed: UInt64,
                requests: Int? = nil, faultCount: Int? = nil, scrubInterval: Duration? = nil) {
        self.duration = duration; self.clients = clients; self.faultInterval = faultInterval
        self.faults = faults; self.strategy = strategy; self.seed = seed
        self.requests = requests; self.faultCount = faultCount; self.scrubInterval = scrubInterval
    }
}

/// One request of the soak.
public struct SoakRequest: Sendable {
    public enum Outcome: Sendable, Equatable { case ok, wrong(String), lost(String) }
    /// Seconds since the soak began.
    public let start: Double
    public let seconds: Double
    /// Served by the pool's CPU fallback (counts against availability).
    public let degraded: Bool
    public let outcome: Outcome
    /// Checked against the CPU reference shard by shard (`soak --verify`).
    public var verified = false
    /// Wrong shard outputs a check caught in this request (each failed over; the answer was right).
    public var caught = 0
}

/// One fault of the soak, planned or not, and its recovery.
public struct SoakFault: Sendable, Codable {
    public let kind: String
    public let targets: [String]
    /// False for a browser that died without poolfault causing it.
    public let planned: Bool
    /// Seconds since the soak began.
    public let struck: Double
    public let detectionSeconds: Double?
    public let recoverySeconds: Double
    public let recovered: Bool
    public let message: String
}

/// The soak's raw outcome: every request and every fault (the CLI computes the figures).
public struct SoakResult: Sendable {
    public let requests: [SoakRequest]
    public let faults: [SoakFault]
    /// [struck, recovered] of each fault, seconds since the soak began: the "during" windows.
    public var windows: [ClosedRange<Double>] { faults.map { $0.struck...($0.struck + max($0.recoverySeconds, 0)) } }
    public let seconds: Double
    /// Every silent corruption a check caught (the pool's log).
    public var detections: [CorruptionDetection] = []
    /// Periodic scrubs of every context: how many passes, and their time in all.
    public var scrubs = 0
    public var scrubSeconds = 0.0
    /// Set when a signal stopped the soak early (`RunStop`): which, and when.
    public var interrupted: String?
    /// Contexts not serving when the soak ended, with their state (a pool that ends degraded does not pass).
    public var degradedAtEnd: [String: String] = [:]
    /// The pool's log (events, spans, counters) for `--trace`.
    public var log: (events: [PoolEvent], spans: [PoolSpan], counters: [PoolCounter]) = ([], [], [])
}

/// Runs a soak on one pool: `clients` threads send seeded requests without pause, each checked
/// against the CPU reference; the pool is faulted at seeded times and recovered by the strategy;
/// a browser process that dies on its own is noticed (the pool's death watch) and recovered too.
public final class SoakRunner: @unchecked Sendable {  // `requests` under `lock`; the rest owned by `run`
    public let environment: GPUEnvironment
    public let configuration: PoolConfiguration
    public let plan: SoakPlan
    private let lock = NSLock()
    private var requests: [SoakRequest] = []
    /// The supervisor's faults as of its last tick, and when the soak began: for `snapshot`.
    private var faultsSoFar: [SoakFault] = []
    private var began: ContinuousClock.Instant?
    private let stopCondition = NSCondition()
    private var stopping = false

    public init(environment: GPUEnvironment, configuration: PoolConfiguration, plan: SoakPlan) {
        self.environment = environment
        self.configuration = configuration
        self.plan = plan
    }

    /// Runs the soak. `progress` is called about once a second (requests so far, faults so far).
    public func run(progress: ((Int, Int, [SoakRequest]) -> Void)? = nil) throws -> SoakResult {
        let pool = try Pool(configuration: configuration, environment: environment)
        defer { pool.shutdown() }
        _ = try pool.initialize()
        // A few seeded inputs and their reference outputs: every answer is checked.
        let inputs = (0..<4).map { ModelInput.seeded(config: environment.config, seed: plan.seed &+ 100 &+ UInt64($0)) }
        let references = try inputs.map { try pool.reference(for: $0) }
        let began = ContinuousClock.now
        lock.withLock { self.began = began }
        let group = DispatchGroup()
        for client in 0..<plan.clients {
            group.enter()
            let thread = Thread { [self] in
                var i = client
                while !isStopping && RunStop.requested == nil {
                    let k = i % inputs.count
                    i += 1
                    let start = ContinuousClock.now
                    let record: SoakRequest
                    do {
                        let r = try pool.infer(inputs[k], reference: references[k])
                        var made = SoakRequest(start: (start - began).seconds, seconds: r.seconds, degraded: r.degraded,
                                               outcome: r.matchesReference ? .ok : .wrong("\(r.comparison)"))
                        made.verified = r.verified
                        made.caught = r.caught.count
                        record = made
                    } catch {
                        record = SoakRequest(start: (start - began).seconds, seconds: (ContinuousClock.now - start).seconds,
                                             degraded: false, outcome: .lost("\(error)"))
                    }
                    let count = lock.withLock { requests.append(record); return requests.count }
                    // With a fault count too, the supervisor decides when both are reached.
                    if plan.faultCount == nil, let limit = plan.requests, count >= limit {
                        stopCondition.withLock { stopping = true; stopCondition.broadcast() }
                    }
                }
                group.leave()
            }
            thread.name = "soak client \(client)"
            thread.start()
        }

        var faults: [SoakFault] = []
        let corruption = CorruptionWatch(pool: pool, soakBegan: began)
        var scrubs = 0, scrubSeconds = 0.0
        var nextScrub = plan.scrubInterval?.seconds ?? .infinity
        /// Faults the corruption watch settled: a planned one's slot filled in, an unplanned one added.
        func record(_ settled: [(index: Int?, fault: SoakFault)]) {
            for (index, fault) in settled {
                if let index, index < faults.count { faults[index] = fault } else { faults.append(fault) }
            }
        }
        var random = Xoshiro256StarStar(seed: plan.seed)
        func draw() -> Double { Double(random.next() >> 11) / Double(1 << 53) }
        var nextFault = plan.faultInterval.seconds * (0.75 + 0.5 * draw())
        var deck = FaultDeck(kinds: plan.faults, seed: plan.seed)
        var seenUnplanned = 0
        var lastProgress = 0.0
        /// When the last planned fault's recovery ended (seconds since the soak began).
        var lastFaultEnded = 0.0
        /// A browser that died on its own: recovered at once, reported as unplanned. Returns the
        /// recoveries it ran.
        @discardableResult
        func handleUnplanned() -> [RecoveryRecord] {
            let unplanned = pool.events.events.filter { $0.kind == "unplanned_exit" }
            guard unplanned.count > seenUnplanned else { return [] }
            var recoveries: [RecoveryRecord] = []
            for event in unplanned[seenUnplanned...] {
                let struck = event.t - pool.events.offset(of: began)
                let r = pool.recover(using: plan.strategy)
                recoveries.append(r)
                faults.append(SoakFault(kind: "unplanned_exit", targets: event.context.map { [$0] } ?? [], planned: false,
                                        struck: struck, detectionSeconds: nil, recoverySeconds: r.duration, recovered: r.success,
                                        message: "\(event.detail); \(r.message)"))
            }
            seenUnplanned = unplanned.count
            return recoveries
        }
        /// Contexts down that a recovery has already dealt with (a failed one, or simple's choice
        /// to leave a crashed browser down): not new damage.
        var acknowledged: Set<String> = [], acknowledgedAt = pool.events.now
        func broken() -> [BrowserContext] {
            pool.contexts.filter { $0.backend == .webgpu && ($0.state == .crashed || $0.state == .disconnected) }
        }
        func acknowledge() {
            acknowledged = Set(broken().map(\.name))
            acknowledgedAt = pool.events.now
        }
        /// A context broken with no planned fault in progress and no unplanned exit to explain
        /// it — a browser the watchdog found frozen or hung and killed, on its own — is recovered
        /// at once and reported as unplanned, like an outside kill.
        func handleUnplannedDamage() {
            let damaged = broken().filter { !acknowledged.contains($0.name) }
            guard !damaged.isEmpty else { return }
            let names = Set(damaged.map(\.name))
            let watchdog = pool.events.events.last { $0.kind == "watchdog" && $0.t >= acknowledgedAt && names.contains($0.context ?? "") }
            let cause = watchdog?.detail ?? damaged.map { "\($0.name) \($0.state.rawValue)" }.joined(separator: ", ")
            let r = pool.recover(using: plan.strategy)
            acknowledge()
            faults.append(SoakFault(kind: watchdog != nil ? "unplanned_hang" : "unplanned_loss", targets: names.sorted(), planned: false,
                                    struck: (watchdog?.t ?? pool.events.now) - pool.events.offset(of: began), detectionSeconds: nil,
                                    recoverySeconds: r.duration, recovered: r.success,
                                    message: "\(cause) (unplanned: not caused by poolfault); \(r.message)"))
        }
        while true {
            let now = (ContinuousClock.now - began).seconds
            let planned = faults.filter(\.planned).count
            if plan.requests == nil, plan.faultCount == nil, now >= plan.duration.seconds { break }
            // A fault count is reached once the pool has served a request begun after the last
            // fault (the steady state checked after it, as before and during).
            if plan.requests != nil || plan.faultCount != nil,
               plan.requests.map({ limit in lock.withLock { requests.count } >= limit }) ?? true,
               plan.faultCount.map({ limit in planned >= limit && lock.withLock { requests.last { $0.start >= lastFaultEnded } != nil } }) ?? true {
                break
            }
            if isStopping || RunStop.requested != nil { break }
            if !handleUnplanned().isEmpty { acknowledge() }
            handleUnplannedDamage()
            record(corruption.settle(strategy: plan.strategy))
            if now >= nextScrub {
                let pass = pool.scrub()
                scrubs += 1
                scrubSeconds += pass.seconds
                record(corruption.settle(strategy: plan.strategy))
                nextScrub = (ContinuousClock.now - began).seconds + (plan.scrubInterval?.seconds ?? .infinity)
            }
            if now >= nextFault, !plan.faults.isEmpty, plan.faultCount.map({ planned < $0 }) ?? true {
                let kind = deck.deal()
                let struck = (ContinuousClock.now - began).seconds
                do {
                    let fault = try FaultInjector.inject(kind, into: pool)
                    if kind == .silentCorruption {
                        // Recovered when a check catches it (CorruptionWatch), not now: nothing is known wrong yet.
                        corruption.injected(fault, index: faults.count, struck: struck)
                        faults.append(SoakFault(kind: kind.rawValue, targets: fault.targets, planned: true, struck: struck, detectionSeconds: nil,
                                                recoverySeconds: 0, recovered: false, message: "not caught yet"))
                        lastFaultEnded = (ContinuousClock.now - began).seconds
                nextFault = lastFaultEnded + plan.faultInterval.seconds * (0.75 + 0.5 * draw())
                        continue
                    }
                    let r = pool.recover(using: plan.strategy)
                    let observed = FaultInjector.observed(fault, in: pool)
                    var recovered = r.success, seconds = r.duration, message = r.message
                    // A browser dying on its own in the middle of this recovery fails it; the
                    // recovery of that death (recorded as its own, unplanned fault) then recovers
                    // this fault too, and the time until then counts.
                    let index = faults.count
                    // A death's waitpid can trail the recovery it broke: let the reaper say whether one was unplanned.
                    if !r.success { pool.awaitEndingsReported(within: .seconds(2)) }
                    let overtaking = r.success ? [] : handleUnplanned()
                    acknowledge()
                    if !overtaking.isEmpty, overtaking.allSatisfy(\.success) {
                        recovered = true
                        seconds += overtaking.reduce(0) { $0 + $1.duration }
                        message = "\(r.message); overtaken by an unplanned exit, whose recovery succeeded"
                    }
                    faults.insert(SoakFault(kind: kind.rawValue, targets: fault.targets, planned: true, struck: struck,
                                            detectionSeconds: observed.detectionSeconds, recoverySeconds: seconds, recovered: recovered,
                                            message: message), at: index)
                } catch {
                    // An injection that failed part-way may have left a context broken (a
                    // connection closed on a missed deadline): the strategy repairs whatever it
                    // finds, so the next fault strikes a whole pool.
                    let r = pool.recover(using: plan.strategy)
                    acknowledge()
                    faults.append(SoakFault(kind: kind.rawValue, targets: [], planned: true, struck: struck, detectionSeconds: nil,
                                            recoverySeconds: r.duration, recovered: false,
                                            message: "could not inject: \(error); the pool afterwards: \(r.message)"))
                }
                lastFaultEnded = (ContinuousClock.now - began).seconds
                nextFault = lastFaultEnded + plan.faultInterval.seconds * (0.75 + 0.5 * draw())
            }
            lock.withLock { faultsSoFar = faults }
            if let progress, now - lastProgress >= 1 {
                lastProgress = now
                progress(lock.withLock { requests.count }, faults.count, lock.withLock { Array(requests.suffix(200)) })
            }
            // The supervisor's tick: how often it looks for the next fault time or an unplanned
            // death (timing, not work: the clients do the work meanwhile).
            stopCondition.withLock { _ = stopCondition.wait(until: Date().addingTimeInterval(0.05)) }
        }
        stopCondition.withLock { stopping = true }
        group.wait()
        let seconds = (ContinuousClock.now - began).seconds
        let stopped = RunStop.requested
        if stopped == nil {  // a stopped soak reports what it had: no last recovery or scrub
            if plan.scrubInterval != nil {  // the weights as the soak leaves them, however short it ran
                let pass = pool.scrub()
                scrubs += 1
                scrubSeconds += pass.seconds
            }
            record(corruption.settle(strategy: plan.strategy))
            record(corruption.finish(strategy: plan.strategy))
        }
        var result = SoakResult(requests: lock.withLock { requests }, faults: faults, seconds: seconds)
        result.interrupted = stopped.map { String(format: "%@ after %.1f s", $0, seconds) }
        // Simple leaves a crashed browser down by design: that is its degradation, not the pool's.
        let leftDown = plan.strategy == .simple ? acknowledged : []
        result.degradedAtEnd = Dictionary(uniqueKeysWithValues: pool.contexts
            .filter { $0.backend == .webgpu && $0.state != .ready && !($0.state == .crashed && leftDown.contains($0.name)) }
            .map { ($0.name, $0.state.rawValue) })
        result.detections = pool.corruptionDetections
        result.scrubs = scrubs
        result.scrubSeconds = scrubSeconds
        result.log = (pool.events.events, pool.events.spans, pool.events.counters)
        return result
    }

    private var isStopping: Bool { stopCondition.withLock { stopping } }

    /// What the soak has done so far (every request, the faults as of the supervisor's last
    /// tick), from any thread: what a live metrics endpoint serves while it runs.
    public func snapshot() -> SoakResult {
        lock.withLock {
            SoakResult(requests: requests, faults: faultsSoFar, seconds: began.map { (ContinuousClock.now - $0).seconds } ?? 0)
        }
    }
}
