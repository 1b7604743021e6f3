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
            // The restart budget counts rebuilds tried: all 4 are tried, though the breaker opened
            // after the third failure (the crash itself, then two failed rebuilds).
            #expect(recovery.attempts == 4, "attempts: \(recovery.attempts)")
            #expect(recovery.message.contains("restart budget spent, 4 rebuilds tried"), "\(recovery.message)")
            #expect(recovery.steps.contains { $0.name == "backoff" })
            let after = try PoolHarness.inferMatching(pool)
            #expect(!after.route.contains("edge") && !after.degraded)
            PoolHarness.expectClean(instance, after: pool)
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
            #expect(recovery.message.contains("restart budget spent, 2 rebuilds tried"), "\(recovery.message)")
            #expect(recovery.message.contains("rolled back"))
            #expect(recovery.attempts == 2)
            try PoolHarness.inferMatching(pool)  // served elsewhere meanwhile
            PoolHarness.expectClean(instance, after: pool)
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
            PoolHarness.expectClean(instance, after: pool)
        }

        // Test that a WebNN browser is a real failover target (not degraded).
        @Test func aWebNNBrowserTakesOverWithoutDegrading() throws {
            let (instance, pool) = try PoolHarness.makePool(browsers: ["chrome", "edge"], webnn: ["edge"])
            #expect(pool.context(named: "edge")?.backend == .webnn)
            _ = try FaultInjector.inject(.browserCrash, into: pool, target: .named("chrome"))
            let result = try PoolHarness.inferMatching(pool)
            #expect(result.route == ["edge", "edge"] && !result.degraded)
            PoolHarness.expectClean(instance, after: pool)
        }

        // Test that one fault counts once against the breaker, however many requests and
        // heartbeats meet it, and that a verified recovery closes the breaker again, for every
        // fault and strategy (with an infinite cooldown: no verdict may wait for time to pass).
        @Test(arguments: [FaultKind.connectionLost, .componentFailure, .browserCrash], RecoveryStrategyKind.allCases)
        func oneFaultCountsOnce(fault: FaultKind, strategy: RecoveryStrategyKind) throws {
            let (instance, pool) = try PoolHarness.makePool { $0.breakerCooldown = .infinity }
            let firefox = try #require(pool.context(named: "firefox"))
            _ = try FaultInjector.inject(fault, into: pool, target: .named("firefox"))
            for _ in 0..<5 { try PoolHarness.inferMatching(pool) }
            #expect(firefox.breaker.consecutiveFailures == 1, "\(firefox.breaker.consecutiveFailures) failures counted for one fault")
            #expect(firefox.breaker.state == .closed)
            let recovery = pool.recover(using: strategy)
            #expect(recovery.success, "\(recovery.message)")
            let after = try PoolHarness.inferMatching(pool)
            if strategy == .simple && fault == .browserCrash {
                #expect(!after.route.contains("firefox") && !after.degraded, "simple leaves a crashed browser down")
            } else {
                #expect(firefox.breaker.state == .closed && firefox.breaker.consecutiveFailures == 0)
                #expect(after.route == pool.placement.contexts || strategy == .simple, "\(after.route)")
            }
            PoolHarness.expectClean(instance, after: pool)
        }

        // Test that faults striking a pool under load lose no request and give no wrong answer:
        // 24 client threads block on the pool; each fault waits until at least 8 requests are in
        // flight (a condition, not a sleep), records how many were, and every injection and every
        // recovery must succeed. Run with lavapipe's mapped memory and with a discrete GPU's
        // staging path (where a fault between the hidden and the pooled read-back once made a
        // failover apply a shard twice).
        @Test(arguments: [false, true])
        func faultsUnderLoadLoseNoRequest(stagedUploads: Bool) throws {
            let (instance, pool) = try PoolHarness.makePool(stagedUploads: stagedUploads)
            let results = ResultBox()
            let load = LoadGenerator(clients: 24) {
                do {
                    let r = try pool.infer(PoolHarness.input)
                    results.add(ok: r.matchesReference, failovers: r.failovers.count)
                } catch {
                    results.add(error: "\(error)")
                }
            }
            load.start()
            let faults: [FaultKind] = [.connectionLost, .componentFailure, .browserCrash, .multipleFailures,
                                       .connectionLost, .browserCrash]
            var inFlightAtFault: [Int] = []
            var problems: [String] = []
            for (n, fault) in faults.enumerated() {
                inFlightAtFault.append(load.waitForInFlight(atLeast: 8, timeout: 60))
                do { _ = try FaultInjector.inject(fault, into: pool) } catch { problems.append("inject \(fault): \(error)") }
                load.waitForCompletions(16, timeout: 60)  // requests meet the fault before recovery starts
                let r = pool.recover(using: RecoveryStrategyKind.allCases[n % 3])
                if !r.success { problems.append("recover after \(fault): \(r.message)") }
            }
            load.stop()
            #expect(problems.isEmpty, "\(problems)")
            #expect(inFlightAtFault.allSatisfy { $0 >= 8 }, "in flight at each fault: \(inFlightAtFault)")
            #expect(results.errors.isEmpty, "lost: \(results.errors.prefix(3))")
            #expect(results.wrong == 0 && results.ok == load.completed, "ok \(results.ok) of \(load.completed)")
            #expect(results.failovers > 0, "faults struck while requests were in flight")
            PoolHarness.expectClean(instance, after: pool)
        }

        // Test that 100 crash/recover cycles leave no Vulkan object behind and RSS bounded.
        @Test func aHundredCrashRecoverCyclesLeakNothing() throws {
            // Leaks are the subject here, not the degradation ladder (it would move chrome to the
            // CPU path after three crashes): count crashes, never demote.
            let (instance, pool) = try PoolHarness.makePool { $0.crashPolicy.demotion = false }
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
            PoolHarness.expectClean(instance, after: pool)
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

/// Client threads that call `request` in a loop until stopped, counting requests in flight.
final class LoadGenerator: @unchecked Sendable {  // counters under `condition`
    private let condition = NSCondition()
    private let clients: Int
    private let request: @Sendable () -> Void
    private var running = false
    private var inFlight = 0
    private var done = 0
    private var exited = 0

    init(clients: Int, request: @escaping @Sendable () -> Void) {
        self.clients = clients
        self.request = request
    }

    var completed: Int { condition.withLock { done } }

    func start() {
        condition.withLock { running = true }
        for _ in 0..<clients {
            Thread { [self] in
                while condition.withLock({ running ? { inFlight += 1; return true }() : false }) {
                    request()
                    condition.withLock { inFlight -= 1; done += 1; condition.broadcast() }
                }
                condition.withLock { exited += 1; condition.broadcast() }
            }.start()
        }
    }

    /// Waits until at least `count` requests are in flight (or `timeout` seconds passed);
    /// returns how many were.
    func waitForInFlight(atLeast count: Int, timeout: Double) -> Int {
        let deadline = Date(timeIntervalSinceNow: timeout)
        return condition.withLock {
            while inFlight < count, condition.wait(until: deadline) {}
            return inFlight
        }
    }

    /// Waits until `count` more requests completed (or `timeout` seconds passed).
    func waitForCompletions(_ count: Int, timeout: Double) {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.withLock {
            let target = done + count
            while done < target, condition.wait(until: deadline) {}
        }
    }

    /// Stops the clients and waits for every one to finish its request.
    func stop() {
        condition.withLock {
            running = false
            while exited < clients { condition.wait() }
        }
    }
}
