import Foundation
import Testing
import Transformer
@testable import ResourcePool
@testable import VulkanCompute

/// A fault during recovery (cascading_failure): a browser crashes, and a second crash strikes
/// inside the recovery — the failover target as detection begins, the rebuilt browser with part
/// of its weights uploaded, or before its first dispatch. Every strategy, every stage it can
/// meet, seeds and both context modes: the pool ends as the strategy promises, every answer
/// right, the restart budget the recovery's own.
extension PoolSuite {
    @Suite struct CascadingFailureTests {
        struct Case: CustomStringConvertible, Sendable {
            let strategy: RecoveryStrategyKind, stage: Cascade.Stage, seed: UInt64, queue: Bool
            var description: String { "\(strategy.rawValue)/\(stage.rawValue) seed \(seed) \(queue ? "queue" : "device")" }
        }

        static let cases: [Case] = RecoveryStrategyKind.allCases.flatMap { strategy in
            Cascade.Stage.stages(for: strategy).flatMap { stage in
                [(UInt64(1), false), (2, true), (3, false)].map { Case(strategy: strategy, stage: stage, seed: $0.0, queue: $0.1) }
            }
        }

        static func pool(_ c: Case, configure: (inout PoolConfiguration) -> Void = { _ in }) throws -> (VulkanInstance, Pool) {
            try PoolHarness.makePool(seed: c.seed) {
                $0.cascadeStage = c.stage
                $0.contextMode = c.queue ? .queue : .device
                $0.allowSharedQueues = true
                $0.breakerCooldown = .infinity  // no verdict leans on time passing
                configure(&$0)
            }
        }

        @Test(arguments: cases)
        func aSecondCrashDuringRecoveryIsSurvived(_ c: Case) throws {
            let (instance, pool) = try Self.pool(c)
            let first = try FaultInjector.inject(.cascadingFailure, into: pool)
            #expect(first.parts.count == 1 && pool.cascade.struck == nil, "\(c): nothing strikes before recovery")
            try PoolHarness.inferMatching(pool)  // failed over around the first crash

            let recovery = pool.recover(using: c.strategy)
            #expect(recovery.success, "\(c): \(recovery.message)")
            let fault = FaultInjector.observed(first, in: pool)
            let second = try #require(fault.parts.count == 2 ? fault.parts[1] : nil, "\(c): the second crash struck")
            #expect(second.duringRecovery?.hasPrefix(c.stage.rawValue + ": ") == true, "\(c): \(second.duringRecovery ?? "-")")
            let firstTargets = Set(fault.parts[0].targets)
            switch c.stage {
            case .detection:
                #expect(firstTargets.isDisjoint(with: second.targets), "\(c): the failover target, another browser")
                #expect(recovery.rounds == nil, "\(c): found by the same round's detection")
            case .weightUpload, .firstDispatch:
                #expect(Set(second.targets) == firstTargets, "\(c): the rebuilt browser again")
                #expect(recovery.rounds == 2, "\(c): one more round")
                #expect(recovery.message.contains("round 1: "), "\(c): the first round's failure is kept")
            }
            // Every rebuild is counted, none past the budget.
            let rebuilt = Set(recovery.contextsRebuilt)
            if c.strategy == .simple {
                #expect(rebuilt.isEmpty && recovery.attempts == 0, "\(c)")
                let down = firstTargets.union(second.targets)
                #expect(pool.currentRoute.contexts.allSatisfy { !down.contains($0) && pool.context(named: $0)?.state == .ready },
                        "\(c): served by the browser left: \(pool.currentRoute)")
            } else {
                #expect(rebuilt == firstTargets.union(second.targets), "\(c): \(recovery.contextsRebuilt)")
                #expect(recovery.attempts == 2, "\(c): two rebuilds, \(recovery.attempts) made")
                #expect(pool.currentRoute == pool.placement, "\(c): back as planned")
            }
            #expect(pool.contexts.allSatisfy { $0.state == .ready || c.strategy == .simple }, "\(c)")
            let after = try PoolHarness.inferMatching(pool)
            #expect(after.failovers.isEmpty, "\(c): the recovered pool serves without failing over")
            PoolHarness.expectClean(instance, after: pool)
        }

        // Test that the restart budget is the recovery's, not a round's: with one rebuild allowed,
        // the crash during the upload leaves the browser down with the budget's reason, and its
        // shard is still served elsewhere, right.
        @Test(arguments: [RecoveryStrategyKind.progressive, .coordinated])
        func theRestartBudgetSpansTheRounds(strategy: RecoveryStrategyKind) throws {
            let c = Case(strategy: strategy, stage: .weightUpload, seed: 4, queue: false)
            let (instance, pool) = try Self.pool(c) { $0.retry.maxAttempts = 1 }
            let first = try FaultInjector.inject(.cascadingFailure, into: pool, target: .named("chrome"))
            try PoolHarness.inferMatching(pool)
            let recovery = pool.recover(using: strategy)
            #expect(!recovery.success)
            #expect(recovery.message.contains("chrome stays down: restart budget spent, 1 rebuild tried"), "\(recovery.message)")
            #expect(recovery.attempts == 1 && recovery.rounds == 2, "attempts \(recovery.attempts), rounds \(recovery.rounds ?? 1)")
            #expect(FaultInjector.observed(first, in: pool).parts.count == 2)
            #expect(pool.context(named: "chrome")?.state == .failed)
            let after = try PoolHarness.inferMatching(pool)
            #expect(!after.route.contains("chrome"), "\(after.route)")
            PoolHarness.expectClean(instance, after: pool)
        }

        // Test that a round is repeated only for a fault that struck during it: a browser that
        // keeps crashing spends its budget in one round, and the failure is not retried.
        @Test func aFailureWithNoNewFaultTakesOneRound() throws {
            let c = Case(strategy: .progressive, stage: .detection, seed: 5, queue: false)
            let (instance, pool) = try Self.pool(c)
            let fault = try FaultInjector.inject(.browserCrash, into: pool, target: .named("firefox"))
            FaultInjector.keepCrashing(fault, in: pool, times: 5)
            let recovery = pool.recover(using: .progressive)
            #expect(!recovery.success && recovery.rounds == nil, "rounds \(recovery.rounds ?? 1): \(recovery.message)")
            #expect(recovery.attempts == pool.configuration.retry.maxAttempts)
            #expect(pool.cascade.struck == nil, "no cascade armed by a browser_crash")
            PoolHarness.expectClean(instance, after: pool)
        }

        // Test that a loss is counted where it is decided, with the state it moves: the reaper
        // (another thread) may move a context to crashed before it says so, and a recovery that
        // meets the crashed context then must already see the count, or it would not go round
        // again (seen on browser processes: coordinated failed after its rollback).
        @Test func aLossIsCountedWithTheStateItMoves() throws {
            let (instance, pool) = try PoolHarness.makePool()
            let chrome = try #require(pool.context(named: "chrome"))
            let before = pool.lossesNoticed
            #expect(chrome.processEnded(pid: getpid(), "ended (the reaper's half, before it says so)"))
            #expect(chrome.state == .crashed)
            #expect(pool.lossesNoticed == before + 1, "the count moved with the state")
            #expect(!chrome.recordLoss(VulkanError.deviceLost("the request that met it"), components: []))
            #expect(pool.lossesNoticed == before + 1, "a second sighting is not news")
            PoolHarness.expectClean(instance, after: pool)
        }

        // Test that cascading_failure is refused up front where two lost browsers could leave none.
        @Test func aPoolThatOneMoreCrashWouldEmptyIsRefused() {
            var c = PoolConfiguration()
            c.browsers = ["chrome", "firefox"]
            #expect(c.refusal(toHost: .cascadingFailure, target: .drawn)?.contains("three webgpu browsers") == true)
            c.browsers = ["chrome", "firefox", "edge"]
            c.webnnBrowsers = ["edge"]
            #expect(c.refusal(toHost: .cascadingFailure, target: .drawn) != nil)
            c.webnnBrowsers = []
            #expect(c.refusal(toHost: .cascadingFailure, target: .drawn) == nil)
        }
    }
}
