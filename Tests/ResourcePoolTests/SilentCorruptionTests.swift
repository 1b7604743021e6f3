import Foundation
import Testing
import Transformer
@testable import ResourcePool
@testable import TransformerGPU
@testable import VulkanCompute

/// Silent corruption in a pool (thread isolation, lavapipe, validation layer on): caught before
/// a wrong answer leaves, the context quarantined, its weights restored from the source,
/// scrubbed and verified, and the CPU reference never touched.
extension PoolSuite {
    @Suite(.serialized) struct SilentCorruptionTests {
        /// chrome holds layers 0–1 of the six (shard 0, with the embeddings): a Linear of layer 0.
        static let tensor = "encoder.layer.0.attention.self.value.weight"

        static func inject(_ pool: Pool, magnitude: CorruptionMagnitude = .gross) throws -> FaultRecord {
            var spec = pool.configuration.corruption
            spec.tensor = tensor
            spec.magnitude = magnitude
            let context = try #require(pool.context(named: "chrome"))
            let record = try context.corrupt(.attention(layer: 0), spec)
            return FaultRecord(kind: .silentCorruption, targets: ["chrome:layer0.attention"], simulated: false, seed: nil, teardown: [],
                               parts: [], start: pool.events.now, corruption: record)
        }

        @Test(arguments: RecoveryStrategyKind.allCases, CorruptionPersistence.allCases)
        func aCorruptionIsCaughtFailedOverRestoredAndVerified(strategy: RecoveryStrategyKind, persistence: CorruptionPersistence) throws {
            let (instance, pool) = try PoolHarness.makePool { $0.corruption = CorruptionSpec(persistence: persistence, seed: 0) }
            do {
                let before = try PoolHarness.cpu.forward(PoolHarness.input)
                let fault = try FaultInjector.inject(.silentCorruption, into: pool, target: .named("chrome"), component: .attention(layer: 0))
                let record = try #require(fault.corruption)
                #expect(record.tensor.hasPrefix("encoder.layer.0.") && record.elements == 64 && !fault.simulated)
                let r = try PoolHarness.inferMatching(pool)
                let caught = try #require(r.caught.first, "\(persistence) corruption of \(record.summary) was not caught")
                #expect(caught.context == "chrome" && caught.shard == 0 && caught.component == "layer0.attention", "\(caught)")
                #expect(r.route[0] != "chrome" && r.failovers.contains { $0.shard == 0 && $0.from == "chrome" })
                #expect(pool.context(named: "chrome")?.state == .quarantined)
                // The oracle's weights are not the device's: the CPU reference answers as before, bit for bit.
                #expect(try PoolHarness.cpu.forward(PoolHarness.input) == before)
                let recovery = pool.recover(using: strategy)
                #expect(recovery.success, "\(recovery.message)")
                #expect(recovery.contextsRestored == ["chrome"])
                #expect(Set(recovery.steps.map(\.name)).isSuperset(of: ["scrub", "weight_restore", "first_dispatch"]), "\(recovery.steps.map(\.name))")
                #expect(pool.context(named: "chrome")?.state == .ready)
                let after = try PoolHarness.inferMatching(pool)
                #expect(after.caught.isEmpty)
                if strategy != .simple { #expect(after.route == pool.placement.contexts) }
                #expect(pool.scrub().detections.isEmpty)
            }
            pool.shutdown()
            PoolHarness.expectClean(instance, after: pool)
        }

        /// Each request check alone, the others off, catches a gross corruption of a Linear; the
        /// scrub alone lets the wrong answer out (nothing checks requests) and then finds it.
        @Test(arguments: [CorruptionDetector.reference, .checksum, .scrub])
        func eachCheckAloneCatchesWhatItCan(detector: CorruptionDetector) throws {
            let (instance, pool) = try PoolHarness.makePool {
                $0.verifyEvery = detector == .reference ? 1 : 0
                $0.integrity = IntegrityChecks(checksums: detector == .checksum, scrubbing: detector == .scrub)
            }
            do {
                _ = try Self.inject(pool)
                let r = try pool.infer(PoolHarness.input)
                if detector == .scrub {
                    #expect(!r.matchesReference && r.caught.isEmpty, "with no request check the wrong answer is served")
                    let found = pool.scrub().detections
                    #expect(found.count == 1 && found.first?.tensor == Self.tensor && found.first?.detector == .scrub, "\(found)")
                } else {
                    #expect(r.matchesReference, "\(r.comparison)")
                    #expect(r.caught.map(\.detector) == [detector], "\(r.caught)")
                    if detector == .checksum { #expect(r.caught.first?.tensor == Self.tensor) }
                }
                #expect(pool.context(named: "chrome")?.state == .quarantined)
                #expect(pool.recover(using: .progressive).success)
            }
            pool.shutdown()
            PoolHarness.expectClean(instance, after: pool)
        }

        /// A device that corrupts its weights again after they are restored is bad hardware:
        /// isolated for good (breaker held open, out of routing), the report says why, and the
        /// pool goes on serving right answers elsewhere.
        @Test func aRestoreThatDoesNotHoldIsolatesTheContext() throws {
            let (instance, pool) = try PoolHarness.makePool { $0.keepCorrupting = 1 }
            do {
                _ = try FaultInjector.inject(.silentCorruption, into: pool, target: .named("chrome"), component: .attention(layer: 0))
                _ = try PoolHarness.inferMatching(pool)
                let recovery = pool.recover(using: .progressive)
                #expect(!recovery.success && recovery.message.contains("isolated"), "\(recovery.message)")
                let chrome = try #require(pool.context(named: "chrome"))
                #expect(chrome.state == .failed && chrome.breaker.state == .isolated && !chrome.breaker.allows)
                #expect(pool.isolatedContexts["chrome"]?.contains("bad hardware") == true)
                #expect(pool.events.events.contains { $0.kind == "isolated" && $0.context == "chrome" })
                let r = try PoolHarness.inferMatching(pool)
                #expect(!r.route.contains("chrome"))
                #expect(!pool.recover(using: .progressive).contextsRebuilt.contains("chrome"), "an isolated context is never rebuilt")
            }
            pool.shutdown()
            PoolHarness.expectClean(instance, after: pool)
        }

        /// Clean requests on several inputs, every check on, and scrubs between them: nothing fires.
        @Test func cleanRequestsRaiseNoDetection() throws {
            let (instance, pool) = try PoolHarness.makePool()
            do {
                for seed in 0..<40 as Range<UInt64> {
                    let r = try pool.infer(ModelInput.seeded(config: PoolHarness.config, seed: seed))
                    #expect(r.matchesReference && r.caught.isEmpty && r.verified)
                    if seed % 10 == 0 { #expect(pool.scrub().detections.isEmpty) }
                }
                #expect(pool.corruptionDetections.isEmpty)
            }
            pool.shutdown()
            PoolHarness.expectClean(instance, after: pool)
        }

        /// `verifyEvery`: every request, every Nth, or none, as configured.
        @Test func verificationFollowsItsPolicy() throws {
            for (every, expected) in [(1, 6), (3, 2), (0, 0)] {
                let (instance, pool) = try PoolHarness.makePool { $0.verifyEvery = every }
                do {
                    let verified = try (0..<6).map { _ in try pool.infer(PoolHarness.input).verified }.filter { $0 }.count
                    #expect(verified == expected, "verifyEvery \(every)")
                }
                pool.shutdown()
                PoolHarness.expectClean(instance, after: pool)
            }
        }
    }
}
