import Foundation
import Testing
import Transformer
@testable import ResourcePool

/// The pool core on scripted engines (no Vulkan, process or socket), under seeded fault
/// schedules: a fault injected as a scenario does, plus faults scheduled at any engine operation
/// of the pool's life — a start, an upload, a run, a heartbeat, a reconnect — so they land in
/// initialize, serving, failover and every step of recovery, on every strategy and pool shape.
/// After every step the invariants are checked; a failing schedule prints the one line that
/// replays it (`POOLFAULT_SCHEDULE=<seed> swift test --filter replayOneSchedule`).
@Suite struct ScheduleSimulatorTests {
    static let config = try! ModelConfig.bert(name: "sim-bert", hiddenSize: 8, numLayers: 6, numHeads: 2, intermediateSize: 16,
                                              vocabSize: 40, maxPositionEmbeddings: 8, typeVocabSize: 2, seqLen: 4)
    static let weights = try! WeightStore.seeded(config: config, seed: 3)
    static let cpu = try! CPUReference(weights: weights)
    static let input = ModelInput.seeded(config: config, seed: 9)

    static let shapes = [["chrome", "firefox"], ["chrome", "firefox", "edge"], ["chrome", "chrome", "firefox", "edge"],
                         ["chrome", "firefox", "edge", "safari"]]
    /// The CPU reference's states at the shard boundaries of `input`, per shard count (one per shape).
    static let references: [Int: ReferenceTrace?] = Dictionary(uniqueKeysWithValues: Set(shapes.map(\.count)).map { n in
        (n, try? ReferenceTrace(input: input, plan: ShardPlan.make(.layer, config: config, shardCount: n), cpu: cpu))
    })
    static let injected: [FaultKind] = [.connectionLost, .componentFailure, .browserCrash, .multipleFailures, .cascadingFailure, .gpuHang]

    /// One schedule, all drawn from its seed.
    struct Schedule: CustomStringConvertible {
        let seed: UInt64
        let browsers: [String]
        let strategy: RecoveryStrategyKind
        let fault: FaultKind
        let strikes: [Int: Script.Fault]
        /// Uploads through the queue (a discrete GPU, a browser process) or by mapping (unified memory).
        let uploadsNeedQueue: Bool
        /// Virtual seconds that pass before each request and before recovery: long enough, now and
        /// then, for a circuit breaker's cooldown (0.25 s) to end and let a probe through.
        let pauses: [Double]
        /// Strikes that, when they hit a request's run, are mended before the request hears of
        /// them — a recovery on another thread rebuilding or reconnecting the context (concurrency's
        /// stale loss, placed exactly).
        let mended: Set<Int>

        init(seed: UInt64) {
            var random = Xoshiro256StarStar(seed: seed)
            func draw(_ n: Int) -> Int { Int(random.next() % UInt64(n)) }
            self.seed = seed
            browsers = ScheduleSimulatorTests.shapes[draw(ScheduleSimulatorTests.shapes.count)]
            strategy = RecoveryStrategyKind.allCases[draw(3)]
            fault = ScheduleSimulatorTests.injected[draw(ScheduleSimulatorTests.injected.count)]
            var strikes: [Int: Script.Fault] = [:]
            for _ in 0..<draw(3) { strikes[1 + draw(90)] = Script.Fault.allCases[draw(Script.Fault.allCases.count)] }
            self.strikes = strikes
            uploadsNeedQueue = draw(2) == 0
            pauses = (0..<5).map { _ in [0, 0.1, 0.3, 1.0][draw(4)] }
            mended = Set(strikes.keys.sorted().filter { _ in draw(3) == 0 })
        }

        var description: String {
            "seed \(seed): \(fault.rawValue)/\(strategy.rawValue) on \(browsers.joined(separator: ",")), scheduled "
                + (strikes.isEmpty ? "nothing" : strikes.sorted { $0.key < $1.key }
                    .map { "\($0.value.rawValue)@\($0.key)" + (mended.contains($0.key) ? " (mended meanwhile)" : "") }.joined(separator: " "))
                + (uploadsNeedQueue ? ", uploads through the queue" : ", uploads by mapping")
                + ", pauses \(pauses.map { String($0) }.joined(separator: "/")) s"
        }
        var replay: String { "POOLFAULT_SCHEDULE=\(seed) swift test --filter replayOneSchedule" }
    }

    /// What one schedule did: nil when every invariant held, else what broke (and the pool's events).
    struct Outcome {
        var refused = false, initializeFailed = false, recovered = false, struckInRecovery = false, breakerOpened = false, hung = false
        var corruptionCaught = false, mendedMeanwhile = false
        var broken: String?
    }

    static func simulate(_ s: Schedule, events: Bool = false) -> Outcome {
        var outcome = Outcome()
        var configuration = PoolConfiguration()
        configuration.browsers = s.browsers
        configuration.seed = s.seed
        // A hung queue is a process isolation fault (its recovery kills the browser's process);
        // scripted engines stand in for browser processes.
        if s.fault == .gpuHang { configuration.isolation = .process }
        if configuration.refusal(toHost: s.fault, target: .drawn) != nil { outcome.refused = true; return outcome }
        let clock = VirtualClock()  // backoffs, cooldowns and hangs' deadlines pass in no real time, the same for every run of the seed
        let script = Script(faults: s.strikes.filter { !s.mended.contains($0.key) }, uploadsNeedQueue: s.uploadsNeedQueue,
                            clock: clock, watchdog: configuration.watchdog)
        let meanwhile = Meanwhile()
        for step in s.mended { script.strike(s.strikes[step]!, at: step) { meanwhile.mend($0) } }
        let environment = GPUEnvironment(scripted: script, config: config, weights: weights, cpu: cpu)
        func broken(_ why: String, _ pool: Pool?) -> Outcome {
            var o = outcome
            let log = events ? "\n" + (pool?.events.events.map { String(format: "%.4f %@ %@ %@", $0.t, $0.kind, $0.context ?? "-", $0.detail) }
                .joined(separator: "\n") ?? "") : ""
            o.broken = "\(s) — \(why); struck: \(script.struck.map(\.description).joined(separator: ", "))\(log)"
            return o
        }
        let pool: Pool
        do { pool = try Pool(configuration: configuration, environment: environment, clock: clock) } catch { return broken("no pool: \(error)", nil) }
        defer { pool.shutdown() }
        meanwhile.pool = pool
        meanwhile.script = script
        do {
            _ = try pool.initialize()
        } catch {
            // A fault during initialize fails it with the loss, by design; nothing else may.
            guard ContextLoss.isLoss(error) || error is PoolError else { return broken("initialize failed on no fault: \(error)", pool) }
            outcome.initializeFailed = true
            pool.shutdown()
            return script.liveEngines == 0 ? outcome : broken("\(script.liveEngines) engines left after shutdown", pool)
        }
        guard let reference = Self.references[pool.plan.shards.count] ?? nil else { return broken("no reference for \(pool.plan.shards.count) shards", pool) }
        func served(_ when: String) -> String? {
            meanwhile.serving = true
            defer { meanwhile.serving = false }
            do {
                let r = try pool.infer(input, reference: reference)
                if let why = meanwhile.brokenMend() { return "\(when): \(why)" }
                return r.matchesReference ? nil : "\(when): a wrong answer served (\(r.comparison))"
            } catch {
                return "\(when): a request lost: \(error)"
            }
        }
        if let why = served("initial inference") { return broken(why, pool) }
        do { _ = try FaultInjector.inject(s.fault, into: pool) } catch {
            return broken("the injection failed: \(error)", pool)
        }
        for n in 1...2 {
            clock.advance(by: s.pauses[n - 1])
            if let why = served("inference \(n) with the fault") { return broken(why, pool) }
        }
        clock.advance(by: s.pauses[2])
        let stepBefore = script.step
        let recovery = pool.recover(using: s.strategy)
        outcome.struckInRecovery = script.struck.contains { $0.step > stepBefore }
        outcome.recovered = recovery.success
        let budget = configuration.retry.maxAttempts
        if recovery.attempts > budget * pool.contexts.count { return broken("\(recovery.attempts) rebuilds, past the budget of \(budget) per context", pool) }
        if (recovery.rounds ?? 1) > 3 { return broken("\(recovery.rounds!) rounds", pool) }
        if recovery.success {
            let routes = pool.currentRoute.contexts
            switch s.strategy {
            case .progressive, .coordinated:
                if routes != pool.placement.contexts { return broken("succeeded off the plan: \(routes)", pool) }
            case .simple:
                if !routes.allSatisfy({ pool.context(named: $0)?.state == .ready }) { return broken("succeeded on a context not ready: \(routes)", pool) }
            }
        } else if recovery.message.isEmpty {
            return broken("failed without a reason", pool)
        }
        // What the schedule implies: with nothing scheduled after initialize, a strategy that
        // rebuilds brings the pool back.
        if !recovery.success, s.strategy != .simple, script.struck.allSatisfy({ $0.step <= 0 }) {
            return broken("recovery failed with only the injected fault: \(recovery.message)", pool)
        }
        clock.advance(by: s.pauses[3])
        if let why = served("inference after recovery") { return broken(why, pool) }
        outcome.breakerOpened = pool.events.events.contains { $0.kind == "breaker" }
        outcome.corruptionCaught = !pool.corruptionDetections.isEmpty
        outcome.mendedMeanwhile = meanwhile.mends > 0
        outcome.hung = s.fault == .gpuHang || script.struck.contains { $0.fault == .hang }
        pool.shutdown()
        if script.liveEngines != 0 { return broken("\(script.liveEngines) engines left after shutdown", pool) }
        return outcome
    }

    // Test that ten thousand seeded schedules keep every invariant, and that the schedules reach
    // where they claim to: faults in initialize, during recovery, recoveries that succeed.
    @Test func tenThousandSchedulesKeepEveryInvariant() {
        let count = ProcessInfo.processInfo.environment["POOLFAULT_SCHEDULES"].flatMap { Int($0) } ?? 10_000
        // Schedules are independent: one worker per core, each taking every Nth seed.
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8))
        let outcomes = Outcomes(count: count)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for seed in stride(from: worker + 1, through: count, by: workers) {
                outcomes.set(seed - 1, Self.simulate(Schedule(seed: UInt64(seed))))
            }
        }
        let all = outcomes.all
        let broken = all.enumerated().compactMap { i, o in o.broken.map { "\($0)\n  replay: \(Schedule(seed: UInt64(i + 1)).replay)" } }
        let refused = all.filter(\.refused).count, initializeFailed = all.filter(\.initializeFailed).count
        let recovered = all.filter(\.recovered).count, struckInRecovery = all.filter(\.struckInRecovery).count
        let breakerOpened = all.filter(\.breakerOpened).count, corruptionCaught = all.filter(\.corruptionCaught).count
        let mended = all.filter(\.mendedMeanwhile).count, hung = all.filter(\.hung).count
        #expect(broken.isEmpty, "\(broken.count) of \(count) schedules broke an invariant:\n\(broken.prefix(5).joined(separator: "\n"))")
        #expect(refused < count / 4 && initializeFailed > count / 50 && struckInRecovery > count / 20 && recovered > count / 2
                && breakerOpened > count / 200 && corruptionCaught > count / 50 && mended > count / 200 && hung > count / 20,
                "refused \(refused), initialize failed \(initializeFailed), struck in recovery \(struckInRecovery), recovered \(recovered), breaker opened \(breakerOpened), corruption caught \(corruptionCaught), mended meanwhile \(mended), hung \(hung)")
        print("schedules: \(count), refused \(refused), initialize failed \(initializeFailed), struck in recovery \(struckInRecovery), recovered \(recovered), breaker opened \(breakerOpened), corruption caught \(corruptionCaught), mended meanwhile \(mended), hung \(hung)")
    }

    /// What another thread's recovery does while a request's failure is on its way back: the
    /// struck context rebuilt (or reconnected) and its routed shards' weights loaded again. Only
    /// while a request is served (recoveries never overlap), only for a run's loss of the device
    /// or queue, and never inside its own work.
    final class Meanwhile: @unchecked Sendable {  // one schedule, one thread
        var pool: Pool?
        var script: Script?
        var serving = false
        private(set) var mends = 0
        /// Contexts mended, with how many strikes had struck when the mend began.
        var mended: [(context: String, struck: Int)] = []
        private var mending = false

        func mend(_ strike: Script.Strike) {
            guard serving, !mending, strike.operation == "run", strike.fault == .crash || strike.fault == .disconnect,
                  let pool, let context = pool.context(named: strike.context) else { return }
            mending = true
            mends += 1
            defer { mending = false }
            let before = script?.struck.count ?? 0  // a strike during the mend is a new fault
            let log = RecoveryLog(events: pool.events)
            if strike.fault == .disconnect, pool.reconnect(context, log) {
                mended.append((context.name, before))
                return
            }
            guard pool.rebuild(context, log) else { return }
            let routes = pool.currentRoute.contexts
            _ = try? context.load(routes.indices.filter { routes[$0] == context.name }.flatMap { pool.plan.shards[$0].components })
            mended.append((context.name, before))
        }

        /// A context mended meanwhile and not struck since must not be down: the old engine's
        /// loss, heard after the mend, moves nothing.
        func brokenMend() -> String? {
            defer { mended = [] }
            guard let pool, let script else { return nil }
            for (name, struck) in mended where !script.struck.dropFirst(struck).contains(where: { $0.context == name }) {
                // Crashed or disconnected is the old engine's loss taken for the new one's (a
                // quarantine is a check catching weights a reconnect did not mend: legitimate).
                if let context = pool.context(named: name), [.crashed, .disconnected].contains(context.state) {
                    return "\(name) was mended while a request's loss was on its way back, and is \(context.state.rawValue) after it"
                }
            }
            return nil
        }
    }

    /// Outcomes filled in by several workers.
    final class Outcomes: @unchecked Sendable {  // under `lock`
        private let lock = NSLock()
        private var stored: [Outcome]
        init(count: Int) { stored = Array(repeating: Outcome(), count: count) }
        func set(_ i: Int, _ o: Outcome) { lock.withLock { stored[i] = o } }
        var all: [Outcome] { lock.withLock { stored } }
    }

    // Test that a failing schedule replays exactly: set POOLFAULT_SCHEDULE to its seed.
    @Test func replayOneSchedule() {
        let seed = ProcessInfo.processInfo.environment["POOLFAULT_SCHEDULE"].flatMap { UInt64($0) } ?? 1
        let s = Schedule(seed: seed)
        let first = Self.simulate(s, events: true), again = Self.simulate(s, events: true)
        #expect(first.broken == nil, "\(first.broken ?? "")")
        #expect(first.broken == again.broken && first.recovered == again.recovered, "the same seed, the same run")
    }
}
