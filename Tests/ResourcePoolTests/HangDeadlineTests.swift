import Foundation
import Testing
import Transformer
@testable import ResourcePool

/// A hang's cost is its deadline, on an injected clock: a scripted operation that never returns
/// moves the pool's virtual clock by exactly the deadline that ends it — the watchdog's for a
/// shard's run, the heartbeat's for detection — and is then a killed browser. No verdict
/// depends on how fast this machine is: the deadlines are the code's, and the time is virtual.
@Suite struct HangDeadlineTests {
    typealias Sim = ScheduleSimulatorTests

    static let watchdog = Duration.milliseconds(1_250)
    static let heartbeat = Duration.milliseconds(700)
    static let quiesce = Duration.seconds(3)

    static func pool(_ browsers: [String], clock: VirtualClock) throws -> (Pool, Script, ReferenceTrace) {
        let script = Script(faults: [:], clock: clock, watchdog: watchdog)
        let (pool, reference) = try ScriptedPool.make(browsers, script: script, clock: clock) {
            $0.watchdog = watchdog
            $0.heartbeatDeadline = heartbeat
            $0.quiesceDeadline = quiesce
            $0.retry.baseDelay = 0  // no backoff: the clock moves by the hang alone
        }
        return (pool, script, reference)
    }

    // Test that a shard's run that hangs costs the watchdog's deadline, then fails over and answers right.
    @Test(arguments: Sim.shapes)
    func aHungRunCostsTheWatchdogsDeadline(_ browsers: [String]) throws {
        let clock = VirtualClock()
        let (pool, script, reference) = try Self.pool(browsers, clock: clock)
        defer { pool.shutdown() }
        script.strike(.hang, at: script.step + 1) { _ in }  // the request's first shard
        let before = clock.now
        let result = try pool.infer(Sim.input, reference: reference)
        #expect(script.struck.map(\.fault) == [.hang] && script.struck.first?.operation == "run", "\(script.struck)")
        #expect(clock.now - before == Self.watchdog.seconds, "the hang cost \(clock.now - before) s of the pool's time, not the watchdog's \(Self.watchdog.seconds) s")
        #expect(result.matchesReference && result.failovers.count == 1, "\(result.comparison), failovers \(result.failovers)")
        let hung = try #require(pool.context(named: pool.placement.contexts[0]))
        #expect(hung.state == .crashed, "a browser killed by the watchdog is a crash: \(hung.state)")
    }

    // Test that a heartbeat that hangs during detection costs the heartbeat's deadline, and each strategy's recovery follows.
    @Test(arguments: RecoveryStrategyKind.allCases)
    func aHungHeartbeatCostsItsDeadlineAndIsRecovered(_ strategy: RecoveryStrategyKind) throws {
        for browsers in Sim.shapes {
            let clock = VirtualClock()
            let (pool, script, reference) = try Self.pool(browsers, clock: clock)
            defer { pool.shutdown() }
            script.strike(.hang, at: script.step + 1) { _ in }  // detection's first heartbeat
            let before = clock.now
            let record = pool.recover(using: strategy)
            #expect(script.struck.first?.operation == "heartbeat", "\(script.struck)")
            #expect(clock.now - before == Self.heartbeat.seconds,
                    "\(browsers): detection cost \(clock.now - before) s of the pool's time, not the heartbeat's \(Self.heartbeat.seconds) s")
            let hung = script.struck.first?.context ?? "?"
            if strategy == .simple {
                #expect(pool.currentRoute.contexts.allSatisfy { $0 != hung }, "simple routes around the killed \(hung): \(pool.currentRoute.contexts)")
            } else {
                #expect(record.success && record.contextsRebuilt == [hung], "\(browsers): \(record.message), rebuilt \(record.contextsRebuilt)")
                #expect(pool.currentRoute.contexts == pool.placement.contexts)
            }
            #expect(try pool.infer(Sim.input, reference: reference).matchesReference)
        }
    }

    // Test that a coordinated switch that cannot quiesce (a request in flight) rolls back after exactly its deadline.
    @Test(arguments: Sim.shapes)
    func aSwitchThatCannotQuiesceRollsBackAfterItsDeadline(_ browsers: [String]) throws {
        let clock = VirtualClock()
        let (pool, _, reference) = try Self.pool(browsers, clock: clock)
        defer { pool.shutdown() }
        _ = try FaultInjector.inject(.browserCrash, into: pool, target: .index(0))
        #expect(try pool.infer(Sim.input, reference: reference).matchesReference)
        let routes = pool.currentRoute.contexts
        let before = clock.now
        // A request holds the gate (in flight, in the middle of the model) for the whole recovery.
        let blocked = pool.gate.shared { pool.recover(using: .coordinated) }
        #expect(!blocked.success && blocked.message.contains("quiesce deadline"), "\(blocked.message)")
        #expect(clock.now - before == Self.quiesce.seconds * Double(blocked.rounds ?? 1),
                "waited \(clock.now - before) s of the pool's time for \(blocked.rounds ?? 1) round(s) of a \(Self.quiesce.seconds) s deadline")
        #expect(pool.currentRoute.contexts == routes, "routing changed by a switch that never got in")
        // Once the request is done, the same recovery gets in.
        let free = pool.recover(using: .coordinated)
        #expect(free.success && pool.currentRoute.contexts == pool.placement.contexts, "\(free.message)")
        #expect(try pool.infer(Sim.input, reference: reference).matchesReference)
    }
}
