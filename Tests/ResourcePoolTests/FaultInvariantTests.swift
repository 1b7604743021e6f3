import Foundation
import Testing
import Transformer
@testable import ResourcePool
@testable import VulkanCompute

/// README's table of faults as tests: what each fault tears down and what recovery must restore,
/// under every strategy, every inference checked against the CPU reference.
extension PoolSuite {
    @Suite struct FaultInvariantTests {
        @Test func aPoolServesTheReferenceOutput() throws {
            let (instance, pool) = try PoolHarness.makePool()
            let result = try PoolHarness.inferMatching(pool)
            #expect(result.route == ["chrome", "firefox", "edge"])
            #expect(result.failovers.isEmpty && !result.degraded)
            PoolHarness.expectClean(instance, after: pool)
        }

        @Test(arguments: RecoveryStrategyKind.allCases)
        func connectionLossReconnectsTheSameDeviceAndUploadsNothing(strategy: RecoveryStrategyKind) throws {
            let (instance, pool) = try PoolHarness.makePool()
            let chrome = try #require(pool.context(named: "chrome"))
            let serial = try #require(chrome.device?.serial)
            let fault = try FaultInjector.inject(.connectionLost, into: pool, target: .named("chrome"))
            #expect(fault.targets == ["chrome"] && fault.simulated)

            let during = try PoolHarness.inferMatching(pool)
            #expect(during.failovers.first?.from == "chrome")
            #expect(during.route[0] != "chrome")

            let recovery = pool.recover(using: strategy)
            #expect(recovery.success, "\(recovery.message)")
            #expect(recovery.bytesUploaded == 0, "a lost connection keeps its weights")
            #expect(chrome.device?.serial == serial, "same VkDevice")
            #expect(recovery.contextsReconnected == ["chrome"] && recovery.contextsRebuilt.isEmpty)
            #expect(recovery.placementAfter == pool.placement)
            #expect(recovery.steps.contains { $0.name == "detection" })
            let after = try PoolHarness.inferMatching(pool)
            #expect(after.route == ["chrome", "firefox", "edge"])
            PoolHarness.expectClean(instance, after: pool)
        }

        @Test(arguments: RecoveryStrategyKind.allCases)
        func componentFailureReloadsExactlyThatComponent(strategy: RecoveryStrategyKind) throws {
            let (instance, pool) = try PoolHarness.makePool()
            let victim = ModelComponent.feedForward(layer: 3)
            let home = pool.placement.contexts[try #require(pool.plan.shardIndex(of: victim))]
            _ = try FaultInjector.inject(.componentFailure, into: pool, target: .named(home), component: victim)
            try PoolHarness.inferMatching(pool)
            let recovery = pool.recover(using: strategy)
            #expect(recovery.success, "\(recovery.message)")
            #expect(recovery.bytesUploaded == victim.byteSize(in: PoolHarness.config))
            #expect(recovery.placementAfter == pool.placement)
            try PoolHarness.inferMatching(pool)
            PoolHarness.expectClean(instance, after: pool)
        }

        @Test func browserCrashUnderSimpleKeepsTheBrowserDown() throws {
            let (instance, pool) = try PoolHarness.makePool()
            _ = try FaultInjector.inject(.browserCrash, into: pool, target: .named("firefox"))
            try PoolHarness.inferMatching(pool)
            let recovery = pool.recover(using: .simple)
            #expect(recovery.success, "\(recovery.message)")
            #expect(recovery.contextsRebuilt.isEmpty)
            #expect(pool.context(named: "firefox")?.state == .crashed)
            #expect(!recovery.placementAfter.contexts.contains("firefox"))
            #expect(recovery.placementAfter != pool.placement)
            let after = try PoolHarness.inferMatching(pool)
            #expect(!after.route.contains("firefox") && !after.degraded)
            PoolHarness.expectClean(instance, after: pool)
        }

        @Test(arguments: [RecoveryStrategyKind.progressive, .coordinated])
        func browserCrashRebuildsANewDeviceAndReturnsHome(strategy: RecoveryStrategyKind) throws {
            let (instance, pool) = try PoolHarness.makePool()
            let firefox = try #require(pool.context(named: "firefox"))
            let oldSerial = try #require(firefox.device?.serial)
            _ = try FaultInjector.inject(.browserCrash, into: pool, target: .named("firefox"))
            try PoolHarness.inferMatching(pool)
            let recovery = pool.recover(using: strategy)
            #expect(recovery.success, "\(recovery.message)")
            #expect(recovery.contextsRebuilt == ["firefox"])
            #expect((firefox.device?.serial ?? 0) > oldSerial, "a new VkDevice")
            #expect(recovery.placementAfter == pool.placement)
            let shardBytes = pool.plan.shards[1].byteSize(in: PoolHarness.config)
            #expect(recovery.bytesUploaded == shardBytes)
            let switches = recovery.steps.filter { $0.name == "routing_switch" }
            // progressive switches shard by shard; coordinated switches the whole group at once.
            #expect(switches.count == 1)
            #expect(switches.first?.context == (strategy == .coordinated ? "pool" : "firefox"))
            let after = try PoolHarness.inferMatching(pool)
            #expect(after.route == ["chrome", "firefox", "edge"])
            PoolHarness.expectClean(instance, after: pool)
        }

        @Test func multipleFailuresDrawTheSameFaultsFromTheSameSeed() throws {
            func draw(_ seed: UInt64) throws -> FaultRecord {
                let (instance, pool) = try PoolHarness.makePool(seed: seed)
                let record = try FaultInjector.inject(.multipleFailures, into: pool)
                try PoolHarness.inferMatching(pool)
                #expect(pool.recover(using: .progressive).success)
                try PoolHarness.inferMatching(pool)
                PoolHarness.expectClean(instance, after: pool)
                return record
            }
            let a = try draw(7), b = try draw(7)
            #expect(a.targets == b.targets && a.parts.map(\.kind) == b.parts.map(\.kind))
            #expect(a.parts.count == 2 && a.parts[0].kind != a.parts[1].kind)
            let browsers = a.parts.map { $0.targets[0].split(separator: ":")[0] }
            #expect(browsers[0] != browsers[1], "two different browsers")
        }
    }
}
