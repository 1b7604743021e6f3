import Foundation
import Testing
import Transformer
@testable import ResourcePool
@testable import VulkanCompute

/// Queue mode: every context is a queue of one shared device. lavapipe has one queue, so the
/// contexts share it here (allowed explicitly; safe because each device serialises its calls).
extension PoolSuite {
    @Suite struct QueueModeTests {
        static func makeQueuePool() throws -> (VulkanInstance, Pool) {
            try PoolHarness.makePool {
                $0.contextMode = .queue
                $0.allowSharedQueues = true
            }
        }

        @Test func contextsShareOneDeviceAndServeTheReference() throws {
            let (instance, pool) = try Self.makeQueuePool()
            let shared = try #require(pool.sharedDevice)
            #expect(pool.contexts.allSatisfy { $0.device === shared })
            try PoolHarness.inferMatching(pool)
            PoolHarness.expectClean(instance, after: pool)
        }

        // Test that a browser crash in queue mode releases only that context's objects.
        @Test(arguments: RecoveryStrategyKind.allCases)
        func aCrashReleasesOneContextNotTheSharedDevice(strategy: RecoveryStrategyKind) throws {
            let (instance, pool) = try Self.makeQueuePool()
            let shared = try #require(pool.sharedDevice)
            let before = ObjectCensus.live(ownedBy: shared)
            let fault = try FaultInjector.inject(.browserCrash, into: pool, target: .named("firefox"))
            #expect(fault.teardown.first?.contains("shared") == true)
            #expect(shared.isAlive)
            #expect(ObjectCensus.live(ownedBy: shared) < before, "firefox's pipelines, buffers and queue objects are gone")
            let during = try PoolHarness.inferMatching(pool)
            #expect(!during.route.contains("firefox"))
            let recovery = pool.recover(using: strategy)
            #expect(recovery.success, "\(recovery.message)")
            if strategy == .simple {
                #expect(pool.context(named: "firefox")?.state == .crashed)
            } else {
                #expect(recovery.contextsRebuilt == ["firefox"])
                #expect(pool.context(named: "firefox")?.device === shared, "rebuilt on the shared device")
                #expect(!recovery.steps.contains { $0.name == "device_creation" })
                #expect(recovery.placementAfter == pool.placement)
            }
            try PoolHarness.inferMatching(pool)
            PoolHarness.expectClean(instance, after: pool)
        }

        @Test func aLostConnectionInQueueModeReconnectsWithoutUploads() throws {
            let (instance, pool) = try Self.makeQueuePool()
            _ = try FaultInjector.inject(.connectionLost, into: pool, target: .named("edge"))
            try PoolHarness.inferMatching(pool)
            let recovery = pool.recover(using: .progressive)
            #expect(recovery.success && recovery.bytesUploaded == 0, "\(recovery.message)")
            try PoolHarness.inferMatching(pool)
            PoolHarness.expectClean(instance, after: pool)
        }
    }
}
