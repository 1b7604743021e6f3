import Foundation
import Testing
import Transformer
import TransformerGPU
@testable import ResourcePool

/// A strategy sees the pool only through `RecoverySteps`, so each one's promise can be checked
/// step by step: a recording stand-in forwards every step to a real pool (scripted engines) and
/// refuses one chosen step (a reconnect by losing the device under it), as a fault during recovery would, and the test reads what the
/// strategy did next.
/// - coordinated: routing changes only in one quiesced switch after the whole group was
///   verified; when any step fails, routing is as before and what it rebuilt is torn down.
/// - progressive: a shard's route moves only to a context where that shard was just restored.
/// - simple: rebuilds nothing, and routes only to ready contexts.
/// - all: a refused step the strategy met never ends in a success.
@Suite struct StrategyContractTests {
    typealias Sim = ScheduleSimulatorTests

    enum Step: String, CaseIterable { case reconnect, rebuild, upload, restore, verify, heartbeat, quiesce }

    struct Refused: Error, CustomStringConvertible {
        let step: Step
        var description: String { "\(step.rawValue) refused by the test" }
    }

    /// Forwards to `pool`; the first call of `refusing` fails without reaching the pool.
    final class RecordingSteps: RecoverySteps {
        let pool: Pool
        var refusing: Step?
        private(set) var refused = false
        /// Every step and route change, in order ("restore 0 chrome", "route 0 chrome", "switch").
        private(set) var calls: [String] = []

        init(_ pool: Pool, refusing: Step?) { self.pool = pool; self.refusing = refusing }

        private func take(_ step: Step, _ what: String) -> Bool {
            calls.append(what)
            guard step == refusing, !refused else { return false }
            refused = true
            calls.append("refused")
            return true
        }

        var plan: ShardPlan { pool.plan }
        var placement: Placement { pool.placement }
        var currentRoute: Placement { pool.currentRoute }
        func context(named name: String) -> BrowserContext? { pool.context(named: name) }
        func detect(_ log: RecoveryLog) -> [(BrowserContext, ContextProblem)] { calls.append("detect"); return pool.detect(log) }
        func reconnect(_ context: BrowserContext, _ log: RecoveryLog) -> Bool {
            // Refused for real: the device is lost just as the reconnect begins.
            if take(.reconnect, "reconnect \(context.name)") { _ = context.crash() }
            return pool.reconnect(context, log)
        }
        func rebuild(_ context: BrowserContext, _ log: RecoveryLog) -> Bool {
            if take(.rebuild, "rebuild \(context.name)") { log.fail("rebuild refused"); return false }
            return pool.rebuild(context, log)
        }
        func restoreWeights(_ context: BrowserContext, finding: CorruptionFinding, _ log: RecoveryLog) -> Bool {
            calls.append("restoreWeights \(context.name)")
            return pool.restoreWeights(context, finding: finding, log)
        }
        func restore(shard i: Int, on context: BrowserContext, rebuilt: Bool, _ log: RecoveryLog) throws {
            if take(.restore, "restore \(i) \(context.name)") { throw Refused(step: .restore) }
            try pool.restore(shard: i, on: context, rebuilt: rebuilt, log)
            calls.append("restored \(i) \(context.name)")
        }
        func upload(_ missing: [ModelComponent], shard i: Int, to context: BrowserContext, _ log: RecoveryLog) throws {
            if take(.upload, "upload \(i) \(context.name)") { throw Refused(step: .upload) }
            try pool.upload(missing, shard: i, to: context, log)
        }
        func verifyRecovered(shard i: Int, on context: BrowserContext) throws {
            if take(.verify, "verify \(i) \(context.name)") { throw Refused(step: .verify) }
            try pool.verifyRecovered(shard: i, on: context)
        }
        func heartbeat(_ context: BrowserContext) throws {
            if take(.heartbeat, "heartbeat \(context.name)") { throw Refused(step: .heartbeat) }
            try pool.heartbeat(context)
        }
        func noteFailure(of context: BrowserContext, _ error: any Error) { pool.noteFailure(of: context, error) }
        func leastLoaded(excluding excluded: Set<String>) -> BrowserContext? { pool.leastLoaded(excluding: excluded) }
        func setRoute(_ shard: Int, to context: String) {
            if pool.currentRoute.contexts[shard] != context { calls.append("route \(shard) \(context)") }
            pool.setRoute(shard, to: context)
        }
        func switchRoutesQuiesced(to table: [String]) -> Bool {
            if take(.quiesce, "switch") { return false }
            return pool.switchRoutesQuiesced(to: table)
        }
        func pruneCopies(_ log: RecoveryLog) { pool.pruneCopies(log) }
    }

    struct Case: CustomStringConvertible {
        let strategy: RecoveryStrategyKind, browsers: [String], fault: FaultKind, refusing: Step?
        var description: String {
            "\(strategy.rawValue) after \(fault.rawValue) on \(browsers.joined(separator: ",")), refusing \(refusing?.rawValue ?? "nothing")"
        }
    }

    static let cases: [Case] = {
        var cases: [Case] = []
        let refusals: [Step?] = [nil] + Step.allCases.map { Optional($0) }
        for strategy in RecoveryStrategyKind.allCases {
            for browsers in Sim.shapes {
                for fault in [FaultKind.browserCrash, .connectionLost, .componentFailure] {
                    for refusing in refusals { cases.append(Case(strategy: strategy, browsers: browsers, fault: fault, refusing: refusing)) }
                }
            }
        }
        return cases
    }()

    // Test that every strategy keeps its promise when any one of its steps fails.
    @Test(arguments: cases)
    func aStrategyKeepsItsPromiseWhenAStepFails(_ c: Case) throws {
        let script = Script(faults: [:])
        let (pool, reference) = try ScriptedPool.make(c.browsers, script: script) { $0.retry.baseDelay = 0 }
        defer { pool.shutdown() }
        _ = try FaultInjector.inject(c.fault, into: pool, target: .index(0))
        // A request meets the fault first and fails over, so routes differ from the plan.
        let served = try pool.infer(Sim.input, reference: reference)
        #expect(served.matchesReference)
        let routesBefore = pool.currentRoute.contexts
        let steps = RecordingSteps(pool, refusing: c.refusing)
        let log = RecoveryLog(events: pool.events)
        c.strategy.strategy.recover(steps, log: log)
        let routesAfter = pool.currentRoute.contexts
        let calls = steps.calls.joined(separator: " · ")
        let failed = !log.failures.isEmpty

        if steps.refused {
            #expect(failed || c.refusing == .reconnect, "a refused \(c.refusing!.rawValue) ended in success: \(calls)")
        }
        for (i, route) in routesAfter.enumerated() where route != routesBefore[i] {
            #expect(route == Pool.cpuFallback || pool.context(named: route)?.state == .ready,
                    "shard \(i) routed to \(route), which is \(pool.context(named: route)?.state.rawValue ?? "unknown"): \(calls)")
        }
        if c.refusing == .reconnect, c.fault == .connectionLost, c.strategy != .simple {
            #expect(!failed, "a reconnect that failed and a rebuild that worked ended as a failure: \(log.failures): \(calls)")
        }
        switch c.strategy {
        case .coordinated:
            #expect(!steps.calls.contains { $0.hasPrefix("route ") }, "coordinated moved a route outside its switch: \(calls)")
            if failed {
                #expect(routesAfter == routesBefore, "coordinated failed yet routing changed: \(routesBefore) → \(routesAfter): \(calls)")
                for name in log.rebuilt {
                    #expect(pool.context(named: name)?.state != .ready, "\(name), rebuilt by a rolled-back recovery, still serves: \(calls)")
                }
            } else {
                #expect(routesAfter == pool.placement.contexts, "coordinated succeeded off the plan: \(routesAfter): \(calls)")
            }
        case .progressive:
            for (n, call) in steps.calls.enumerated() where call.hasPrefix("route ") {
                let parts = call.split(separator: " ")
                let lastRestore = steps.calls[..<n].last { $0.hasPrefix("restore") }
                #expect(lastRestore == "restored \(parts[1]) \(parts[2])", "progressive routed \(call) without restoring it there first: \(calls)")
            }
            if !failed { #expect(routesAfter == pool.placement.contexts, "progressive succeeded off the plan: \(calls)") }
        case .simple:
            #expect(!steps.calls.contains { $0.hasPrefix("rebuild") }, "simple rebuilt a context: \(calls)")
        }
        pool.shutdown()
        #expect(script.liveEngines == 0, "engines left after shutdown")
    }
}
