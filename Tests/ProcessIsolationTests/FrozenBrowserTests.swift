@testable import BrowserProtocol
import Foundation
import Testing
import Transformer
@testable import ResourcePool
import VulkanCompute

extension ProcessSuite {
    /// Browsers that stop answering without dying (SIGSTOP, a debugger) and peers that are not
    /// the pool: found, killed by pid, recovered; nothing of the run's secret leaks.
    @Suite struct FrozenBrowserTests {
        /// A child process of this test, ended by its pid when the test is done.
        final class Child {
            let process = Process()
            init(_ command: String) throws {
                process.executableURL = URL(fileURLWithPath: "/bin/sh")
                process.arguments = ["-c", command]
                try process.run()
            }
            var pid: Int32 { process.processIdentifier }
            func end() {
                kill(pid, SIGKILL)
                process.waitUntilExit()
            }
        }

        /// A clock the test moves by hand.
        final class Clock: @unchecked Sendable {
            var now = ContinuousClock.now
        }

        // Test that liveness takes a stopped process for frozen at the threshold, one asleep
        // (no CPU time) only after `sleepGrace` thresholds, never sooner, and a busy one for alive however long it runs —
        // on a clock the test moves, so no verdict waits on real time.
        @Test func livenessTellsAFrozenProcessFromABusyOne() throws {
            let clock = Clock()
            let stopped = try Child("exec sleep 600"), idle = try Child("exec sleep 600"), busy = try Child("while :; do :; done")
            defer { for child in [stopped, idle, busy] { child.end() } }
            kill(stopped.pid, SIGSTOP)
            var state: Character?
            for _ in 0..<1000 where state != "T" {  // the stop lands asynchronously
                state = ProcessLiveness.read(stopped.pid)?.0
                usleep(1000)
            }
            #expect(state == "T")
            // The idle one must have become `sleep` and gone to sleep before it is first looked
            // at: the shell's start spends CPU time, which a later look would take for life.
            for _ in 0..<5000 {
                let comm = try? String(contentsOfFile: "/proc/\(idle.pid)/comm", encoding: .utf8)
                if comm == "sleep\n", ProcessLiveness.read(idle.pid)?.0 == "S", !ProcessLiveness.hasRunnableThread(idle.pid) { break }
                usleep(1000)
            }
            let watched = [stopped, idle, busy].map { ProcessLiveness(pid: $0.pid, threshold: .seconds(5), now: { clock.now }) }
            for liveness in watched { _ = liveness.check() }
            clock.now += .seconds(4.9)
            #expect(watched[0].check() == nil && watched[1].check() == nil, "frozen before the threshold")
            // The busy one has spent CPU time since its first look (ticks are 10 ms: wait for one).
            let first = try #require(ProcessLiveness.read(busy.pid)?.1)
            for _ in 0..<10_000 where ProcessLiveness.read(busy.pid)?.1 == first { usleep(1000) }
            clock.now += .seconds(0.2)
            let stoppedWhy = try #require(watched[0].check())
            #expect(stoppedWhy.contains("stopped") && stoppedWhy.contains("pid \(stopped.pid)"), "\(stoppedWhy)")
            #expect(watched[1].check() == nil, "asleep, it may be waiting on a peer: it has longer")
            #expect(watched[2].check() == nil, "a busy process is alive")
            clock.now += .seconds(5 * (ProcessLiveness.sleepGrace - 1))
            let idleWhy = try #require(watched[1].check())
            #expect(idleWhy.contains("no CPU time"), "\(idleWhy)")
            // A process that has ended is not frozen: its end speaks for it.
            idle.end()
            #expect(watched[1].check() == nil)
        }

        // Test that browser_freeze stops a real process (SIGSTOP), that the watchdog finds it no
        // sooner than its deadline, kills it, and that every strategy brings a new one serving
        // right answers; no process is left.
        @Test(arguments: RecoveryStrategyKind.allCases)
        func aFrozenBrowserIsFoundKilledAndRecovered(_ strategy: RecoveryStrategyKind) throws {
            let (instance, pool) = try ProcessHarness.makePool { $0.watchdog = .milliseconds(500) }
            let firefox = try #require(pool.hosts["firefox"]?.process)
            let fault = try FaultInjector.inject(.browserFreeze, into: pool, target: .named("firefox"))
            #expect(!fault.simulated && fault.pids == [firefox.pid] && fault.mechanism?.contains("SIGSTOP") == true)
            var state: Character?
            for _ in 0..<1000 where state != "T" {  // the stop lands asynchronously
                state = ProcessLiveness.read(firefox.pid)?.0
                usleep(1000)
            }
            #expect(state == "T", "stopped, not ended")
            let during = try ProcessHarness.inferMatching(pool)
            #expect(during.failovers.contains { $0.from == "firefox" && $0.reason.contains("watchdog") }, "\(during.failovers)")
            #expect(firefox.waitForExit(timeout: .seconds(10)) == .signaled(SIGKILL))
            let observed = FaultInjector.observed(fault, in: pool)
            let detection = try #require(observed.detectionSeconds)
            #expect(detection >= 0.5, "the watchdog cannot fire before its deadline (\(detection) s)")
            #expect((observed.watchdogSeconds ?? 0) >= 0.5)
            let recovery = pool.recover(using: strategy)
            #expect(recovery.success, "\(recovery.message)")
            if strategy != .simple {  // simple leaves a crashed context down and serves from the others
                #expect(recovery.contextsRebuilt == ["firefox"] && pool.context(named: "firefox")?.pid != firefox.pid, "\(recovery.message)")
            }
            try ProcessHarness.inferMatching(pool)
            ProcessHarness.finish(pool, instance)
        }

        // Test that a browser stopped while it starts is found by its lack of progress and killed
        // by the watchdog, not waited for until the start deadline, and that a later recovery
        // brings a working one.
        @Test func aBrowserStoppedWhileItStartsIsKilled() throws {
            let (instance, pool) = try ProcessHarness.makePool {
                $0.watchdog = .milliseconds(500)
                $0.startDeadline = .seconds(120)
            }
            let old = try #require(pool.hosts["edge"]?.process?.pid)
            _ = try FaultInjector.inject(.browserCrash, into: pool, target: .named("edge"))
            _ = pool.hosts["edge"]?.allProcesses.first { $0.pid == old }?.waitForExit(timeout: .seconds(10))
            // Stop the next edge process the moment it exists.
            let stopper = Thread {
                for _ in 0..<600_000 {
                    if let pid = pool.hosts["edge"]?.process?.pid, pid != old {
                        kill(pid, SIGSTOP)
                        return
                    }
                    usleep(100)
                }
            }
            stopper.start()
            let first = pool.recover(using: .progressive)
            let frozen = try #require(pool.hosts["edge"]?.allProcesses.first { $0.pid != old })
            #expect(frozen.waitForExit(timeout: .seconds(10)) == .signaled(SIGKILL), "the stopped process was killed")
            let watchdog = pool.events.events.filter { $0.kind == "watchdog" && $0.context == "edge" }
            #expect(watchdog.contains { $0.detail.contains("pid \(frozen.pid)") && $0.detail.contains("stopped") }, "\(watchdog.map(\.detail))")
            if !first.success {
                let second = pool.recover(using: .progressive)
                #expect(second.success, "\(second.message)")
            }
            try ProcessHarness.inferMatching(pool)
            #expect(pool.context(named: "edge")?.state == .ready)
            ProcessHarness.finish(pool, instance)
        }

        // Test that the run's token is in no browser process's environment or command line
        // (both readable from /proc by any process of the same user for the process's life).
        @Test func theTokenIsNeitherInTheEnvironmentNorOnTheCommandLine() throws {
            let (instance, pool) = try ProcessHarness.makePool()
            let token = try #require(pool.runDirectory?.token)
            #expect(token.count == 64)
            for pid in pool.browserProcessIDs {
                for file in ["environ", "cmdline"] {
                    let bytes = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/\(file)"))
                    #expect(!bytes.isEmpty && bytes.range(of: Data(token.utf8)) == nil, "the token is in /proc/\(pid)/\(file)")
                }
            }
            try ProcessHarness.inferMatching(pool)
            ProcessHarness.finish(pool, instance)
        }

        // Test that a browser serves at most eight connections per context: of twenty opened at
        // once (the pool holds one), seven are served and thirteen closed unserved; once they
        // are gone the pool and new connections are served as before.
        @Test func aBrowserServesAtMostEightConnectionsPerContext() throws {
            let (instance, pool) = try ProcessHarness.makePool()
            let host = try #require(pool.hosts["chrome"])
            let token = try #require(pool.runDirectory?.token)
            let connections = try (0..<20).map { _ in try host.dial("chrome") }
            var welcomed = 0, refused = 0
            for connection in connections {
                do {
                    _ = try Handshake.greet(connection, token: token, deadline: .seconds(30))
                    welcomed += 1
                } catch {
                    if case .deadline = error { Issue.record("a hang, not a refusal") }
                    refused += 1
                }
            }
            #expect(welcomed == 7 && refused == 13, "welcomed \(welcomed), refused \(refused)")
            for connection in connections { connection.close() }
            try ProcessHarness.inferMatching(pool)
            // The served ones end when the browser sees them close: then new ones are served again.
            var served = false
            for _ in 0..<200 where !served {
                let connection = try host.dial("chrome")
                served = (try? Handshake.greet(connection, token: token, deadline: .seconds(30))) != nil
                connection.close()
                if !served { usleep(50_000) }  // the browser's threads see the closes in their own time
            }
            #expect(served)
            #expect(pool.context(named: "chrome")?.state == .ready)
            ProcessHarness.finish(pool, instance)
        }
    }
}
