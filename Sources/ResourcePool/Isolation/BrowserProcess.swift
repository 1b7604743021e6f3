import BrowserProtocol
import CProcess
import Foundation

/// One browser process: its pid, how it ended, and when the pool learnt of it. A reaper
/// thread waits for it (no zombie is ever left) and tells the pool at once, as a real host's
/// child watcher would; `hasExited` also answers before the reap, from a pidfd.
final class BrowserProcess: @unchecked Sendable {  // mutable state under `condition`
    /// How a process ended, as waitpid reports it.
    enum Ending: Sendable, Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        var description: String {
            switch self {
            case .exited(let code): return "exited with status \(code)"
            case .signaled(let sig): return "killed by signal \(sig) (\(String(cString: strsignal(sig))))"
            }
        }
    }

    let pid: pid_t
    let browser: String
    /// Closed once the process is reaped (a pool that respawns a browser many times must not
    /// collect descriptors).
    private var pidfd: Int32
    /// The pool has been told of the end (`onExit` returned).
    private var reported = false
    private let condition = NSCondition()
    private var ending: Ending?
    private var endedAt: ContinuousClock.Instant?
    /// A kill the pool sent on purpose (a fault, a watchdog, the pool's end): not "unplanned".
    private var killReason: String?

    /// Told when the process starts dying (ending nil: the death watch fired) and when it has
    /// been reaped (its ending), with the reason when the pool killed it on purpose.
    private let onExit: @Sendable (BrowserProcess, Ending?, _ planned: String?) -> Void
    private let deathWatch: DeathWatch
    private var watching = false
    /// The death watch fired: the process is dying (its sockets close once the kernel has
    /// torn down its memory).
    private var dying = false

    init(pid: pid_t, browser: String, deathWatch: DeathWatch, onExit: @escaping @Sendable (BrowserProcess, Ending?, String?) -> Void) {
        self.pid = pid
        self.browser = browser
        self.deathWatch = deathWatch
        self.onExit = onExit
        pidfd = pf_pidfd_open(pid)
        ProcessSpawner.shared.track(self)
        let thread = Thread { [self] in reap() }
        thread.name = "reap \(browser) \(pid)"
        thread.start()
    }

    deinit { if pidfd >= 0 { close(pidfd) } }  // a process still running when its pool let go

    private func reap() {
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, 0) } while result < 0 && errno == EINTR
        let how: Ending
        if result < 0 {
            how = .exited(-1)
        } else if status & 0x7f == 0 {
            how = .exited((status >> 8) & 0xff)  // WIFEXITED / WEXITSTATUS
        } else {
            how = .signaled(status & 0x7f)       // WTERMSIG
        }
        let planned: String? = condition.withLock {
            ending = how
            endedAt = .now
            if pidfd >= 0 { close(pidfd) }
            pidfd = -1
            condition.broadcast()
            return killReason
        }
        ProcessSpawner.shared.untrack(self)
        // After the broadcast: a context tearing down (its lock held) may be waiting for this end.
        onExit(self, how, planned)
        condition.withLock {
            reported = true
            condition.broadcast()
        }
    }

    /// How it ended (nil while it runs).
    var exit: Ending? { condition.withLock { ending } }

    /// How it ended, waiting up to `timeout` for the reap when the pool has already killed it:
    /// a SIGKILL'd process is gone once the kernel has torn down its memory, which on a loaded
    /// machine may be after the pool moved on. Nil at once for a process nobody killed.
    func endingOnceKilled(within timeout: Duration) -> Ending? {
        let deadline = Date().addingTimeInterval(timeout.seconds)
        return condition.withLock {
            while ending == nil, killReason != nil, condition.wait(until: deadline) {}
            return ending
        }
    }
    var exitedAt: ContinuousClock.Instant? { condition.withLock { endedAt } }

    /// True once the process has ended, reaped or not (the pidfd turns readable at exit).
    var hasExited: Bool { waitUntilExited(within: 0) }

    /// Starts the death watch (once): call after the worker's first welcome, when it surely
    /// holds the watch's mutex.
    func watchForDeath() {
        let start = condition.withLock { () -> Bool in
            defer { watching = true }
            return !watching && ending == nil
        }
        guard start else { return }
        deathWatch.watch("\(browser) \(pid)") { [self] in
            let planned: String? = condition.withLock {
                dying = true
                condition.broadcast()
                return killReason
            }
            onExit(self, nil, planned)
        }
    }

    /// Waits up to `milliseconds` for the process to end (without reaping it). True if it has.
    func waitUntilExited(within milliseconds: Int32) -> Bool {
        let deadline = Date().addingTimeInterval(Double(milliseconds) / 1000)
        return condition.withLock {
            // The death watch and the reaper both broadcast.
            while ending == nil && !dying, condition.wait(until: deadline) {}
            if ending != nil || dying { return true }
            // Not told yet (no death watch before the first welcome): ask the pidfd, polled under
            // the lock because the reaper closes it once the process is reaped.
            guard pidfd >= 0 else { return Glibc.kill(pid, 0) != 0 }
            var p = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
            return poll(&p, 1, 0) == 1
        }
    }

    /// Waits until the pool has been told of the process's end, at most `timeout`.
    @discardableResult
    func waitUntilReported(timeout: Duration) -> Bool {
        let deadline = Date().addingTimeInterval(timeout.seconds)
        return condition.withLock {
            while !reported, condition.wait(until: deadline) {}
            return reported
        }
    }

    /// Sends `signal` (SIGKILL by default) on purpose, saying why.
    func kill(_ signal: Int32 = SIGKILL, reason: String) {
        condition.withLock {
            guard ending == nil else { return }
            if killReason == nil { killReason = reason }
            // Through the pidfd: once reaped, a pid may name another process.
            if pidfd >= 0 { _ = pf_pidfd_send_signal(pidfd, signal) } else { _ = Glibc.kill(pid, signal) }
        }
    }

    /// browser_freeze: SIGSTOP through the pidfd. The process lives but runs nothing and answers
    /// nothing; its end (the watchdog's SIGKILL, which a stopped process still takes) comes later.
    /// Returns once every thread of the process has stopped (a stop lands when the thread
    /// the kernel chose runs, which on a busy machine may be after other threads answered a
    /// request), or false after `within`.
    @discardableResult
    func freeze(within: Duration = .seconds(5)) -> Bool {
        let sent = condition.withLock { () -> Bool in
            guard ending == nil else { return false }
            if pidfd >= 0 { _ = pf_pidfd_send_signal(pidfd, SIGSTOP) } else { _ = Glibc.kill(pid, SIGSTOP) }
            return true
        }
        guard sent else { return false }
        let until = ContinuousClock.now + within
        while !ProcessLiveness.isStopped(pid) {
            guard ContinuousClock.now < until, !hasExited else { return false }
            usleep(500)  // not a stand-in for work: polls /proc until the kernel has stopped every thread
        }
        return true
    }

    /// Waits until the process has been reaped, at most `timeout`. Returns how it ended.
    @discardableResult
    func waitForExit(timeout: Duration) -> Ending? {
        let deadline = Date().addingTimeInterval(timeout.seconds)
        return condition.withLock {
            while ending == nil, condition.wait(until: deadline) {}
            return ending
        }
    }

    /// How long a browser may take over its orderly end (its devices destroyed, its validation
    /// log flushed) before SIGKILL.
    static let orderlyExitDeadline: Duration = .seconds(2)

    /// The pool's end, first half: SIGTERM, which a browser answers by destroying its devices in
    /// order (the layer reports leaks only then) and exiting. A stopped process would never
    /// answer: it gets SIGKILL.
    func requestExit(reason: String) {
        let stopped = ProcessLiveness.read(pid).map { $0.0 == "T" || $0.0 == "t" } ?? false
        kill(stopped ? SIGKILL : SIGTERM, reason: reason)
    }

    /// Ends the process for good (the pool's end): the orderly exit asked for, SIGKILL past its
    /// deadline, then the reap. False when the deadline passed (its device-destruction checks
    /// never ran).
    @discardableResult
    func terminate(reason: String) -> Bool {
        requestExit(reason: reason)
        guard waitForExit(timeout: Self.orderlyExitDeadline) == nil else { return true }
        kill(SIGKILL, reason: reason)
        waitForExit(timeout: .seconds(5))
        return false
    }
}
