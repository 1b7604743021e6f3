@testable import BrowserProtocol
import Foundation
import Testing
import Transformer
@testable import ResourcePool
import VulkanCompute

extension ProcessSuite {
    /// Real faults on real browser processes, through the pool's API.
    @Suite struct BrowserProcessTests {
        // Test that a SIGKILL of a browser while 50 clients have requests in flight — at least
        // eight of them inside the killed process, sent and unanswered — loses no request and
        // answers none wrongly, and that the pool then recovers the browser.
        @Test func aKillUnderFiftyConcurrentRequestsLosesNone() throws {
            let (instance, pool) = try ProcessHarness.makePool()
            let chrome = try #require(pool.context(named: "chrome")?.pid)
            let clients = 50, perClient = 4
            let started = DispatchSemaphore(value: 0)
            let results = Results()
            let group = DispatchGroup()
            for client in 0..<clients {
                group.enter()
                Thread {
                    started.signal()
                    for _ in 0..<perClient {
                        let begin = ContinuousClock.now
                        do {
                            let r = try pool.infer(ProcessHarness.input)
                            results.add(client, begin, .now, r.matchesReference ? nil : "\(r.comparison)")
                        } catch {
                            results.add(client, begin, .now, "threw \(error)")
                        }
                    }
                    group.leave()
                }.start()
            }
            for _ in 0..<clients { started.wait() }
            // Fifty clients fill chrome's window (16) whatever the machine's speed; the bound
            // only ends a test that would otherwise wait for ever.
            let context = try #require(pool.context(named: "chrome"))
            let until = ContinuousClock.now + .seconds(120)
            while context.requestsInFlight < 8, ContinuousClock.now < until { usleep(200) }
            let fault = try FaultInjector.inject(.browserCrash, into: pool, target: .named("chrome"))
            let killedAt = ContinuousClock.now
            #expect((fault.requestsInFlight ?? 0) >= 8, "requests inside the process at the kill: \(fault.requestsInFlight ?? -1)")
            #expect(group.wait(timeout: .now() + 120) == .success, "every client finished")
            #expect(fault.simulated == false && fault.mechanism == "SIGKILL" && fault.pids == [chrome])
            // Every outcome is recorded, so a lost request is a failure (it threw), not a short count.
            #expect(results.failures.isEmpty, "no request lost, every answer matches the CPU reference: \(results.failures.prefix(3))")
            #expect(results.overlapping(killedAt) > 0, "requests were in flight when the process was killed")

            let recovery = pool.recover(using: .progressive)
            #expect(recovery.success, "\(recovery.message)")
            let respawned = try #require(pool.context(named: "chrome")?.pid)
            #expect(respawned != chrome, "a crash brings a new process")
            #expect(!ProcessHarness.exists(chrome), "the killed process was reaped")
            try ProcessHarness.inferMatching(pool)
            ProcessHarness.finish(pool, instance)
        }

        // Test that 50 kill/respawn cycles leave no process, zombie, pidfd, death-watch page or
        // socket file behind, and that the pool's end closes the rest.
        @Test func fiftyKillRespawnCyclesLeakNothing() throws {
            // Leaks are the subject, not the degradation ladder: count crashes, never demote.
            let (instance, pool) = try ProcessHarness.makePool(browsers: ["chrome", "firefox"]) { $0.crashPolicy.demotion = false }
            let directory = try #require(pool.runDirectory?.path)
            let afterStart = ProcessHarness.poolDescriptors
            #expect(afterStart.filter { $0.contains("pidfd") }.count >= 2, "a pidfd per live browser process: \(afterStart)")
            var pids: Set<Int32> = []
            for cycle in 0..<50 {
                let pid = try #require(pool.context(named: "chrome")?.pid)
                pids.insert(pid)
                _ = try FaultInjector.inject(.browserCrash, into: pool, target: .named("chrome"))
                let recovery = pool.recover(using: .progressive)
                #expect(recovery.success, "cycle \(cycle): \(recovery.message)")
                #expect(pool.context(named: "chrome")?.pid != pid, "cycle \(cycle): a new process")
            }
            try ProcessHarness.inferMatching(pool)
            #expect(pids.count == 50)
            #expect(pids.allSatisfy { !ProcessHarness.exists($0) }, "every killed process was reaped")
            #expect(ProcessHarness.poolDescriptors.count == afterStart.count, "no pidfd or death-watch page leaked over 50 cycles")
            let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".sock") }.sorted()
            #expect(files == ["chrome.sock", "firefox.sock"], "one socket per context, however many respawns")
            ProcessHarness.finish(pool, instance)
            #expect(ProcessHarness.poolDescriptors.isEmpty, "the pool's end closed them all: \(ProcessHarness.poolDescriptors)")
        }

        // Test that a connection without the run's token is refused and the pool keeps serving.
        @Test func aClientWithoutTheTokenIsRefused() throws {
            let (instance, pool) = try ProcessHarness.makePool()
            let host = try #require(pool.hosts["firefox"])
            for token in ["", "not-the-token", String(repeating: "0", count: 64)] {
                let connection = try host.dial("firefox")
                #expect(throws: ConnectionError.self) { _ = try Handshake.greet(connection, token: token, deadline: .seconds(10)) }
            }
            #expect(pool.context(named: "firefox")?.state == .ready)
            try ProcessHarness.inferMatching(pool)
            ProcessHarness.finish(pool, instance)
        }

        // Test that garbage sent to a browser process (random bytes, an oversized length, a
        // truncated frame, a malformed message after a good hello) closes only that connection:
        // the process lives on, and the pool keeps serving from it.
        @Test func garbageClosesOnlyThatConnection() throws {
            let (instance, pool) = try ProcessHarness.makePool()
            let host = try #require(pool.hosts["edge"])
            let pid = try #require(pool.context(named: "edge")?.pid)
            var generator = SystemRandomNumberGenerator()
            let oversized = Data([0xFF, 0xFF, 0xFF, 0x7F, 1, 2, 3])
            let truncated = Frame.encode(Message.hello(version: Message.version, token: "x").encoded()).prefix(9)
            let random = Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) })
            for garbage in [random, oversized, truncated] {
                let connection = try host.dial("edge")
                try connection.sendRawForTests(garbage)
                connection.shutDownWrite()
                #expect(throws: ConnectionError.self) { _ = try connection.receive(deadline: .seconds(10)) }
            }
            // A good hello, then a frame that is not a message.
            let connection = try host.dial("edge")
            _ = try Handshake.greet(connection, token: pool.runDirectory!.token, deadline: .seconds(10))
            try connection.sendRawForTests(Frame.encode(Data([0xEE, 1, 2, 3])))
            #expect(throws: ConnectionError.self) { _ = try connection.receive(deadline: .seconds(10)) }
            #expect(ProcessHarness.exists(pid) && pool.context(named: "edge")?.pid == pid, "the process lives on")
            try ProcessHarness.inferMatching(pool)
            #expect(pool.currentRoute == pool.placement, "edge still serves its shard")
            ProcessHarness.finish(pool, instance)
        }

        // Test that a browser process killed from outside the pool is noticed by the pool
        // (recorded as unplanned), and recovered as a crash.
        @Test(arguments: [RecoveryStrategyKind.progressive, .coordinated])
        func aProcessKilledFromOutsideIsRecovered(_ strategy: RecoveryStrategyKind) throws {
            let (instance, pool) = try ProcessHarness.makePool()
            let firefox = try #require(pool.hosts["firefox"]?.process)
            kill(firefox.pid, SIGKILL)
            #expect(firefox.waitForExit(timeout: .seconds(10)) == .signaled(SIGKILL))
            #expect(firefox.waitUntilReported(timeout: .seconds(10)))
            let unplanned = pool.events.events.filter { $0.kind == "unplanned_exit" }
            #expect(unplanned.count == 1 && unplanned[0].detail.contains("pid \(firefox.pid)"), "\(unplanned)")
            #expect(pool.context(named: "firefox")?.state == .crashed, "the reaper told the pool")
            try ProcessHarness.inferMatching(pool)  // fails over
            let recovery = pool.recover(using: strategy)
            #expect(recovery.success && recovery.contextsRebuilt == ["firefox"], "\(recovery.message)")
            #expect(recovery.steps.contains { $0.name == "process_spawn" })
            try ProcessHarness.inferMatching(pool)
            ProcessHarness.finish(pool, instance)
        }

        // Test that gpu_hang hangs a real dispatch, that the watchdog notices no sooner than its
        // deadline, kills the process, and that recovery brings a new one.
        @Test func aHungDispatchIsDetectedByTheWatchdogAndRecovered() throws {
            let (instance, pool) = try ProcessHarness.makePool { $0.watchdog = .milliseconds(500) }
            let chrome = try #require(pool.context(named: "chrome")?.pid)
            let fault = try FaultInjector.inject(.gpuHang, into: pool, target: .named("chrome"))
            #expect(!fault.simulated && fault.pids == [chrome])
            let during = try ProcessHarness.inferMatching(pool)
            #expect(during.failovers.contains { $0.from == "chrome" && $0.reason.contains("watchdog") }, "\(during.failovers)")
            let observed = FaultInjector.observed(fault, in: pool)
            let detection = try #require(observed.detectionSeconds)
            #expect(detection >= 0.5, "the watchdog cannot fire before its deadline (\(detection) s)")
            #expect(pool.hosts["chrome"]?.allProcesses.first?.waitForExit(timeout: .seconds(10)) == .signaled(SIGKILL))
            let recovery = pool.recover(using: .progressive)
            #expect(recovery.success && recovery.contextsRebuilt == ["chrome"], "\(recovery.message)")
            #expect(pool.context(named: "chrome")?.pid != chrome)
            try ProcessHarness.inferMatching(pool)
            ProcessHarness.finish(pool, instance)
        }

        // Test that a fault's record says how the process it struck ended even when the report is
        // made before the reaper has run (CI once saw a watchdog's kill reported with no ending),
        // and names no ending for a struck process that lives on.
        @Test func aStruckProcessEndingIsReportedBeforeItsReap() throws {
            let (instance, pool) = try ProcessHarness.makePool(browsers: ["chrome", "edge"])
            let chrome = try #require(pool.hosts["chrome"]?.process)
            let edge = try #require(pool.hosts["edge"]?.process)
            chrome.kill(reason: "test: struck")
            let record = FaultRecord(kind: .browserCrash, targets: ["chrome"], simulated: false, seed: nil, teardown: [],
                                     parts: [], mechanism: "SIGKILL", pids: [chrome.pid, edge.pid], start: pool.events.now)
            let observed = FaultInjector.observed(record, in: pool)
            #expect(observed.exitStatus == ["pid \(chrome.pid) killed by signal 9 (Killed)"], "\(observed.exitStatus ?? [])")
            #expect(chrome.waitUntilReported(timeout: .seconds(10)))
            ProcessHarness.finish(pool, instance)
        }

        // Test that a lost connection is repaired on the same process and device with no upload.
        @Test func aLostConnectionReconnectsToTheSameProcess() throws {
            let (instance, pool) = try ProcessHarness.makePool()
            let edge = try #require(pool.context(named: "edge"))
            let (pid, serial) = (edge.pid, edge.deviceSerial)
            let fault = try FaultInjector.inject(.connectionLost, into: pool, target: .named("edge"))
            #expect(!fault.simulated && fault.mechanism?.contains("socket") == true)
            try ProcessHarness.inferMatching(pool)
            let recovery = pool.recover(using: .progressive)
            #expect(recovery.success && recovery.contextsReconnected == ["edge"] && recovery.bytesUploaded == 0, "\(recovery.message)")
            #expect(edge.pid == pid && edge.deviceSerial == serial, "same process, same device")
            try ProcessHarness.inferMatching(pool)
            ProcessHarness.finish(pool, instance)
        }
    }
}

/// What the concurrent clients saw, under a lock.
final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var spans: [(ContinuousClock.Instant, ContinuousClock.Instant)] = []
    private var failed: [String] = []

    func add(_ client: Int, _ begin: ContinuousClock.Instant, _ end: ContinuousClock.Instant, _ failure: String?) {
        lock.withLock {
            spans.append((begin, end))
            if let failure { failed.append("client \(client): \(failure)") }
        }
    }
    var count: Int { lock.withLock { spans.count } }
    var failures: [String] { lock.withLock { failed } }
    /// Requests that began before `instant` and ended after it.
    func overlapping(_ instant: ContinuousClock.Instant) -> Int { lock.withLock { spans.filter { $0.0 < instant && $0.1 > instant }.count } }
}

extension Connection {
    /// Writes bytes as they are, around the protocol (fuzzing).
    func sendRawForTests(_ data: Data) throws {
        let fd = rawDescriptorForTests
        let sent = data.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if sent != data.count { throw ConnectionError.closed("raw send: \(sent) of \(data.count) bytes") }
    }

    /// Ends this side's writing (the peer reads EOF after what was sent).
    func shutDownWrite() { _ = shutdown(rawDescriptorForTests, Int32(SHUT_WR)) }
}
