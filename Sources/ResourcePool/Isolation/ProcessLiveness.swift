import Foundation

/// Whether a browser process is doing anything, as a host sees it from outside: its state and
/// its CPU time in /proc. A long wait on a browser (its start, a shard's first run, which
/// compiles its pipelines, a load) has no short deadline of its own, so it is watched instead:
/// a process that is stopped (SIGSTOP, a debugger) for `threshold` seconds while an answer is
/// awaited, or spends no CPU time for `sleepGrace` times as long, is frozen — what Chrome's GPU
/// watchdog exists for.
final class ProcessLiveness {
    /// A process asleep may be waiting on a peer (another process's lock on Mesa's shader cache,
    /// a disk under load: a browser on a saturated 2-core machine slept 2 s while it started), so
    /// it is given this many thresholds; a stopped one is frozen at the first.
    static let sleepGrace = 5.0

    let pid: Int32
    let threshold: Double
    private let now: () -> ContinuousClock.Instant
    private var lastCPU: UInt64?
    private var lastProgress: ContinuousClock.Instant

    /// `now`: the clock (tests pass their own, so no verdict waits on real time).
    init(pid: Int32, threshold: Duration, now: @escaping () -> ContinuousClock.Instant = { .now }) {
        self.pid = pid
        self.threshold = threshold.seconds
        self.now = now
        lastProgress = now()
    }

    /// Nil while the process shows life; else why it is taken for frozen.
    func check() -> String? {
        guard let (state, cpu) = Self.read(pid) else { return nil }  // gone: its end says the rest
        if state == "Z" || state == "X" { return nil }
        let stopped = state == "T" || state == "t"
        // A runnable thread counts as life: on a loaded machine a process may wait for a core.
        if !stopped, cpu != lastCPU || Self.hasRunnableThread(pid) {
            lastCPU = cpu
            lastProgress = now()
            return nil
        }
        let idle = (now() - lastProgress).seconds
        guard idle >= (stopped ? threshold : threshold * Self.sleepGrace) else { return nil }
        return stopped
            ? String(format: "pid %d stopped (state %@: SIGSTOP or a debugger) for %.2f s", pid, String(state), idle)
            : String(format: "pid %d used no CPU time for %.2f s while an answer was awaited", pid, idle)
    }

    /// Whether any of the process's threads is running or waiting for a core (the process's own
    /// state is its main thread's, which in a browser process only waits).
    static func hasRunnableThread(_ pid: Int32) -> Bool {
        threadStates(pid).contains("R")
    }

    /// Whether every thread of the process is stopped (SIGSTOP's group stop complete).
    static func isStopped(_ pid: Int32) -> Bool {
        let states = threadStates(pid)
        return !states.isEmpty && states.allSatisfy { "TtZX".contains($0) }
    }

    /// Each thread's state letter, from /proc/<pid>/task/<tid>/stat (a thread gone meanwhile is left out).
    private static func threadStates(_ pid: Int32) -> [Character] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.compactMap { tid in
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/stat", encoding: .utf8),
                  let close = text.lastIndex(of: ")") else { return nil }
            return text[text.index(after: close)...].split(separator: " ").first?.first
        }
    }

    /// State letter and user + system time in clock ticks (every thread's), from /proc/<pid>/stat.
    static func read(_ pid: Int32) -> (Character, UInt64)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let state = fields[0].first, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
        return (state, user + system)
    }
}
