import CProcess
import Foundation

/// Starts browser processes with posix_spawn (never fork: this process is threaded), all from
/// one thread that lives as long as poolfault. Why one long-lived thread: a worker arms
/// PR_SET_PDEATHSIG to die with the pool, and Linux fires it when the *thread* that spawned
/// the worker exits, so a worker spawned from a Dispatch or Task thread would be killed
/// whenever that thread is retired (notes/processes-on-lavapipe.md).
public final class ProcessSpawner: @unchecked Sendable {  // `jobs` under `condition`
    public static let shared = ProcessSpawner()

    struct Request {
        let executable: String
        let arguments: [String]
        let environment: [String: String]
        /// Descriptors the child gets, as (descriptor here, number in the child); every other
        /// descriptor is closed in the child.
        let descriptors: [(Int32, Int32)]
    }

    private final class Job: @unchecked Sendable {
        let request: Request
        var result: Result<pid_t, PoolError>?
        init(_ request: Request) { self.request = request }
    }

    private let condition = NSCondition()
    private var jobs: [Job] = []
    /// Set by `stopAll`: poolfault is ending (a signal); no new process may start.
    private var stopped: String?
    /// Every browser process alive, so a signal can end them all at once.
    private var live: [pid_t: BrowserProcess] = [:]

    private init() {
        let thread = Thread { [unowned self] in loop() }
        thread.name = "poolfault process spawner"
        thread.start()
    }

    /// Spawns the process and returns its pid (blocks until the spawner thread has run it).
    func spawn(_ request: Request) throws -> pid_t {
        let job = Job(request)
        try condition.withLock {
            if let stopped { throw PoolError.isolation("not starting a browser process: \(stopped)") }
            jobs.append(job)
            condition.broadcast()
            while job.result == nil { condition.wait() }
        }
        return try job.result!.get()
    }

    /// Tracks a browser process until it has been reaped.
    func track(_ process: BrowserProcess) { condition.withLock { live[process.pid] = process } }
    func untrack(_ process: BrowserProcess) {
        condition.withLock {
            live.removeValue(forKey: process.pid)
            condition.broadcast()
        }
    }

    /// poolfault is ending (SIGINT, SIGTERM): refuse new processes and SIGKILL every live one.
    /// Returns how many were killed.
    @discardableResult
    public func stopAll(reason: String) -> Int {
        let victims: [BrowserProcess] = condition.withLock {
            if stopped == nil { stopped = reason }
            return Array(live.values)
        }
        for process in victims { process.kill(SIGKILL, reason: reason) }
        return victims.count
    }

    /// Waits until every tracked process has been reaped, at most `timeout`. True when none is left.
    public func waitForNone(timeout: Duration) -> Bool {
        let deadline = Date().addingTimeInterval(timeout.seconds)
        return condition.withLock {
            while !live.isEmpty, condition.wait(until: deadline) {}
            return live.isEmpty
        }
    }

    private func loop() {
        while true {
            let job: Job = condition.withLock {
                while jobs.isEmpty { condition.wait() }
                return jobs.removeFirst()
            }
            let result = Self.posixSpawn(job.request)
            condition.withLock {
                job.result = result
                condition.broadcast()
            }
        }
    }

    private static func posixSpawn(_ request: Request) -> Result<pid_t, PoolError> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // The dup2s run in order in the child, so a source that is also an earlier target (the
        // death watch's memfd opened as fd 3, then overwritten by the weights going to 3) would
        // hand the child the wrong file. Each source goes through a copy above every target first.
        let lowest = (request.descriptors.map(\.1).max() ?? 2) + 1
        var copies: [Int32] = []
        defer { copies.forEach { close($0) } }
        for (source, _) in request.descriptors {
            let copy = fcntl(source, F_DUPFD_CLOEXEC, lowest)
            guard copy >= 0 else { return .failure(.isolation("cannot hand descriptor \(source) to a browser process: \(String(cString: strerror(errno)))")) }
            copies.append(copy)
        }
        for ((_, target), copy) in zip(request.descriptors, copies) { posix_spawn_file_actions_adddup2(&actions, copy, target) }
        // Nothing else of this process leaks into the child: a socket of another browser held
        // open by a sibling would hide that browser's crash (no EOF while any copy lives).
        _ = pf_spawn_closefrom(&actions, lowest)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group (a terminal's ^C reaches poolfault only, which ends the
        // children itself); default signal handling and an empty mask.
        var defaults = sigset_t(), empty = sigset_t()
        sigemptyset(&empty)
        sigemptyset(&defaults)
        for s in [SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGQUIT] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ([request.executable] + request.arguments).map { strdup($0) }
        let envp = request.environment.map { strdup("\($0.key)=\($0.value)") }
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, request.executable, &actions, &attributes, argv + [nil], envp + [nil])
        guard status == 0 else {
            return .failure(.isolation("cannot start a browser process (\(request.executable)): \(String(cString: strerror(status)))"))
        }
        return .success(pid)
    }
}
