import Foundation
import Testing
import Transformer
@testable import ResourcePool

/// A request that took a context's engine just before a recovery replaced it hears of the old
/// engine's loss after the new one serves. Concurrency makes that interleaving rare and
/// machine-dependent; a scripted engine places it exactly: the fault strikes a shard's run, and
/// before the request hears of it the context is rebuilt (or reconnected), as a recovery on
/// another thread would. The old engine's loss must move nothing: the context stays ready,
/// nothing is counted against it, the shard stays home and the answer is right.
@Suite struct StaleLossTests {
    typealias Sim = ScheduleSimulatorTests

    enum Mend: String, CaseIterable { case rebuild, reconnect }

    struct Case: CustomStringConvertible {
        let browsers: [String], fault: Script.Fault, mend: Mend, shard: Int
        var description: String { "\(fault.rawValue) mended by a \(mend.rawValue) on \(browsers.joined(separator: ",")), shard \(shard)" }
    }

    /// Every shape, every shard, the faults a run meets and the mends a recovery makes for them.
    static let cases: [Case] = Sim.shapes.flatMap { browsers in
        (0..<browsers.count).flatMap { shard in
            [Case(browsers: browsers, fault: .crash, mend: .rebuild, shard: shard),
             Case(browsers: browsers, fault: .disconnect, mend: .rebuild, shard: shard),
             Case(browsers: browsers, fault: .disconnect, mend: .reconnect, shard: shard)]
        }
    }

    // Test that a loss met on an engine replaced before the request heard of it changes nothing.
    @Test(arguments: cases)
    func aLossOnAReplacedEngineMovesNothing(_ c: Case) throws {
        let script = Script(faults: [:])
        let (pool, reference) = try ScriptedPool.make(c.browsers, script: script)
        defer { pool.shutdown() }
        let home = try #require(pool.context(named: pool.placement.contexts[c.shard]))
        let components = pool.plan.shards[c.shard].components
        // A request runs its shards in order, one engine operation each: shard i is step i + 1.
        script.strike(c.fault, at: script.step + c.shard + 1) { [pool] _ in
            let log = RecoveryLog(events: pool.events)
            switch c.mend {
            case .rebuild:
                _ = pool.rebuild(home, log)
                _ = try? home.load(components)
            case .reconnect:
                _ = pool.reconnect(home, log)
            }
        }
        let lossesBefore = pool.lossesNoticed, generationBefore = home.generation
        let result = try pool.infer(Sim.input, reference: reference)
        #expect(script.struck.count == 1 && home.generation > generationBefore, "the fault struck and the engine was replaced: \(script.struck)")
        #expect(result.matchesReference, "\(result.comparison)")
        #expect(home.state == .ready, "\(home.name) is \(home.state.rawValue) after a loss on the engine it no longer has")
        #expect(pool.lossesNoticed == lossesBefore, "a replaced engine's loss was counted as news")
        #expect(result.failovers.isEmpty && pool.currentRoute.contexts == pool.placement.contexts,
                "shard sent away from a mended home: \(pool.currentRoute.contexts)")
        #expect(home.breaker.state == .closed)
        pool.shutdown()
        #expect(script.liveEngines == 0, "engines left after shutdown")
    }
}
