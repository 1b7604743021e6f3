import Foundation
import Testing
import Transformer
@testable import ResourcePool
@testable import VulkanCompute

/// Breakers, restart budgets, the CPU fallback, load with faults, and leaks.
extension PoolSuite {
    @Suite struct ResilienceTests {
        // Test that a browser that keeps crashing trips its breaker and the pool serves from the others.
        @Test func aContextThatKeepsCrashingTripsItsBreaker() throws {
            let (instance, pool) = try PoolHarness.makePool { $0.retry = RetryPolicy(maxAttempts: 4, baseDelay: 0.001) }
            let edge = try #require(pool.context(named: "edge"))
            FaultInjector.keepCrashing(edge, times: 100)
            _ = try FaultInjector.inject(.browserCrash, into: pool, target: .named("edge"))
            try PoolHarness.inferMatching(pool)
            let recovery = pool.recover(using: .progressive)
            #expect(!recovery.success)
            #expect(recovery.message.contains("edge stays down"), "\(recovery.message)")
            #expect(edge.state == .failed)
            #expect(edge.breaker.state == .open, "opened after \(pool.configuration.breakerThreshold) consecutive failures")
            // Failed requests and heartbeats count too, so the breaker opens before the restart
            // budget of 4 is spent and stops further attempts.
            #expect(recovery.attempts < 4, "attempts: \(recovery.attempts)")
            #expect(recovery.steps.contains { $0.name == "backoff" })
            let after = try PoolHarness.inferMatching(pool)
            #expect(!after.route.contains("edge") && !after.degraded)
            PoolHarness.expectClean(instance)
        }

        // Test that a restart budget smaller than the breaker's threshold gives up with its reason.
        @Test func theRestartBudgetGivesUpWithAReason() throws {
            let (instance, pool) = try PoolHarness.makePool {
                $0.retry = RetryPolicy(maxAttempts: 2, baseDelay: 0.001)
                $0.breakerThreshold = 10
            }
            let chrome = try #require(pool.context(named: "chrome"))
            FaultInjector.keepCrashing(chrome, times: 5)
            _ = try FaultInjector.inject(.browserCrash, into: pool, target: .named("chrome"))
            let recovery = pool.recover(using: .coordinated)
            #expect(!recovery.success)
            #expect(recovery.message.contains("restart budget of 2 attempts spent"), "\(recovery.message)")
            #expect(recovery.message.contains("rolled back"))
            #expect(recovery.attempts == 2)
            try PoolHarness.inferMatching(pool)  // served elsewhere meanwhile
            PoolHarness.expectClean(instance)
        }

        // Test that with every webgpu context gone the CPU path serves, reported as degraded.
        @Test func withEveryGPUContextGoneTheCPUServesDegraded() throws {
            let (instance, pool) = try PoolHarness.makePool()
            for name in ["chrome", "firefox", "edge"] {
                _ = try FaultInjector.inject(.browserCrash, into: pool, target: .named(name))
            }
            let result = try PoolHarness.inferMatching(pool)
            #expect(result.degraded)
            #expect(result.route == [Pool.cpuFallback, Pool.cpuFallback, Pool.cpuFallback])
            let recovery = pool.recover(using: .simple)
            #expect(recovery.degraded && !recovery.success, "\(recovery.message)")
            #expect(recovery.message.contains("degraded"))
            PoolHarness.expectClean(instance)
        }

        // Test that a WebNN browser is a real failover target (not degraded).
        @Test func aWebNNBrowserTakesOverWithoutDegrading() throws {
            let (instance, pool) = try PoolHarness.makePool(browsers: ["chrome", "edge"], webnn: ["edge"])
            #expect(pool.context(named: "edge")?.backend == .webnn)
            _ = try FaultInjector.inject(.browserCrash, into: pool, target: .named("chrome"))
            let result = try PoolHarness.inferMatching(pool)
            #expect(result.route == ["edge", "edge"] && !result.degraded)
            PoolHarness.expectClean(instance)
        }

        // Test that 200 concurrent requests with faults injected among them all come back right,
        // with lavapipe's mapped memory and with a discrete GPU's staging path (where a fault
        // between the hidden and the pooled read-back once made a failover apply a shard twice).
        @Test(arguments: [false, true])
        func twoHundredRequestsWithFaultsNoneLostNoneWrong(stagedUploads: Bool) throws {
            let (instance, pool) = try PoolHarness.makePool(stagedUploads: stagedUploads)
            let results = ResultBox()
            let faults: [FaultKind] = [.connectionLost, .componentFailure, .browserCrash, .connectionLost]
            DispatchQueue.concurrentPerform(iterations: 5) { worker in
                if worker == 0 {
                    for (n, fault) in faults.enumerated() {
                        Thread.sleep(forTimeInterval: 0.05)
                        _ = try? FaultInjector.inject(fault, into: pool)
                        Thread.sleep(forTimeInterval: 0.05)
                        _ = pool.recover(using: RecoveryStrategyKind.allCases[n % 3])
                    }
                    return
                }
                for _ in 0..<50 {
                    do {
                        let r = try pool.infer(PoolHarness.input, reference: PoolHarness.reference)
                        results.add(ok: r.matchesReference, failovers: r.failovers.count)
                    } catch {
                        results.add(error: "\(error)")
                    }
                }
            }
            #expect(results.errors.isEmpty, "lost: \(results.errors.prefix(3))")
            #expect(results.ok == 200 && results.wrong == 0)
            #expect(results.failovers > 0, "faults struck while requests were in flight")
            PoolHarness.expectClean(instance)
        }

        // Test that 100 crash/recover cycles leave no Vulkan object behind and RSS bounded.
        @Test func aHundredCrashRecoverCyclesLeakNothing() throws {
            let (instance, pool) = try PoolHarness.makePool()
            var destroyed: [ComputeDevice] = []
            let liveAtStart = pool.contexts.compactMap(\.device).map { ObjectCensus.live(ownedBy: $0) }.reduce(0, +)
            let rssAtStart = residentBytes()
            for cycle in 0..<100 {
                let victim = pool.contexts[cycle % 3]
                if let d = victim.device { destroyed.append(d) }
                _ = try FaultInjector.inject(.browserCrash, into: pool, target: .named(victim.name))
                let r = pool.recover(using: .progressive)
                #expect(r.success, "cycle \(cycle): \(r.message)")
            }
            try PoolHarness.inferMatching(pool)
            #expect(destroyed.allSatisfy { ObjectCensus.live(ownedBy: $0) == 0 }, "a destroyed device left objects")
            let liveNow = pool.contexts.compactMap(\.device).map { ObjectCensus.live(ownedBy: $0) }.reduce(0, +)
            #expect(liveNow <= liveAtStart + 3, "live objects: \(liveAtStart) → \(liveNow)")  // + cached probe batches
            let growth = residentBytes() - rssAtStart
            #expect(growth < 256 << 20, "RSS grew by \(growth >> 20) MiB over 100 cycles")
            PoolHarness.expectClean(instance)
        }
    }
}

/// Thread-safe tallies for the load test.
final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var ok = 0, wrong = 0, failovers = 0
    private(set) var errors: [String] = []
    func add(ok matches: Bool, failovers n: Int) {
        lock.withLock {
            if matches { ok += 1 } else { wrong += 1 }
            failovers += n
        }
    }
    func add(error: String) { lock.withLock { errors.append(error) } }
}

/// Resident set size from /proc/self/statm.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let pages = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
