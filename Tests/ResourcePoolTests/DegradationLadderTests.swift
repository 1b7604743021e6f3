import Foundation
import Testing
@testable import ResourcePool

/// The degradation ladder: hardware GPU → software Vulkan → the CPU path after `limit` crashes
/// within a window, one crash forgiven per interval.
@Suite struct DegradationLadderTests {
    static func ladder(limit: Int = 3, window: Double = 100, forgive: Double = 10, start: Rung = .hardware) -> DegradationLadder {
        var policy = CrashPolicy()
        policy.limit = limit
        policy.window = window
        policy.forgiveAfter = forgive
        return DegradationLadder(policy: policy, startingRungs: ["chrome": start])
    }

    // Test that the limit-th crash in the window demotes one rung, step by step, and the CPU path is the floor.
    @Test func crashesDemoteStepByStep() {
        let ladder = Self.ladder()
        #expect(ladder.crashed("chrome", at: 0) == nil)
        #expect(ladder.crashed("chrome", at: 1) == nil)
        #expect(ladder.crashed("chrome", at: 2)?.to == .software)
        #expect(ladder.rung(of: "chrome") == .software)
        #expect(ladder.crashed("chrome", at: 3) == nil, "the count starts again on the new rung")
        #expect(ladder.crashed("chrome", at: 4) == nil)
        #expect(ladder.crashed("chrome", at: 5)?.to == .cpu)
        for t in 6...20 { #expect(ladder.crashed("chrome", at: Double(t)) == nil, "no rung below the CPU path") }
        #expect(ladder.demotions.map(\.to) == [.software, .cpu])
    }

    // Test that one crash is forgiven per interval: crashes spread out never demote.
    @Test(arguments: [10.0, 10.5, 25.0])
    func spreadOutCrashesAreForgiven(gap: Double) {
        let ladder = Self.ladder(forgive: 10)
        for i in 0..<20 { #expect(ladder.crashed("chrome", at: Double(i) * gap) == nil, "crash \(i) at gap \(gap)") }
        #expect(ladder.rung(of: "chrome") == .hardware)
    }

    // Test that forgiveness removes exactly one crash per full interval, the oldest first.
    @Test func forgivenessIsOnePerInterval() {
        let ladder = Self.ladder(limit: 3, forgive: 10)
        _ = ladder.crashed("chrome", at: 0)
        _ = ladder.crashed("chrome", at: 1)
        #expect(ladder.crashCount(of: "chrome", at: 9.9) == 2)
        #expect(ladder.crashCount(of: "chrome", at: 10) == 1)
        #expect(ladder.crashed("chrome", at: 10.5) == nil, "one forgiven: two held, below the limit")
        #expect(ladder.crashed("chrome", at: 11)?.to == .software, "three held within the interval")
    }

    // Test that crashes older than the window no longer count, and --no-demotion never demotes.
    @Test func theWindowAndNoDemotion() {
        let windowed = Self.ladder(limit: 2, window: 5, forgive: 1000)
        #expect(windowed.crashed("chrome", at: 0) == nil)
        #expect(windowed.crashed("chrome", at: 6) == nil, "the first crash left the window")
        var policy = CrashPolicy()
        policy.demotion = false
        policy.limit = 1
        let never = DegradationLadder(policy: policy, startingRungs: ["chrome": .hardware])
        for t in 0..<5 { #expect(never.crashed("chrome", at: Double(t)) == nil) }
        #expect(never.crashCount(of: "chrome", at: 5) == 5)
    }
}

extension PoolSuite {
    /// The ladder on a real pool (lavapipe declared a hardware GPU): a browser that keeps
    /// crashing goes hardware → software Vulkan → the CPU path, one rung per recovery, and its
    /// shard keeps being served correctly.
    @Suite struct DemotionOnAPoolTests {
        @Test func aBrowserThatKeepsCrashingIsDemotedStepByStep() throws {
            let (instance, pool) = try PoolHarness.makePool { c in
                c.crashPolicy.limit = 2
                c.crashPolicy.hardwareDevices = [0]
                c.breakerCooldown = .infinity
            }
            defer { pool.shutdown() }
            #expect(pool.rung(of: "chrome") == .hardware)
            var rungs: [Rung] = []
            for round in 0..<4 {
                let fault = try FaultInjector.inject(.browserCrash, into: pool, target: .named("chrome"))
                if round % 2 == 0 { FaultInjector.keepCrashing(fault, in: pool, times: 1) }  // one crash more while starting
                let recovery = pool.recover(using: .progressive)
                #expect(recovery.success, "round \(round): \(recovery.message)")
                try PoolHarness.inferMatching(pool)
                rungs.append(pool.rung(of: "chrome"))
            }
            #expect(pool.demotions.map { "\($0.from.rawValue)→\($0.to.rawValue)" } == ["hardware→software", "software→cpu"])
            #expect(rungs == [.software, .software, .cpu, .cpu], "decided in rounds 1 and 3, applied at the next rebuild")
            #expect(pool.context(named: "chrome")?.backend == .webnn, "the CPU path serves chrome's shard")
            #expect(pool.events.events.filter { $0.kind == "demoted" }.count == 2)
            PoolHarness.expectClean(instance, after: pool)
        }
    }
}
