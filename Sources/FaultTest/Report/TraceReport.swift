import Foundation
import ResourcePool

/// The run as a trace in Chrome's Trace Event Format (JSON), which Perfetto's UI
/// (ui.perfetto.dev → Open trace file) and chrome://tracing open.
///
/// Tracks: a process for the pool (threads: the scenarios and their phases, the router, and
/// pool-wide recovery steps) and one process per browser with a thread per context. Complete
/// events ("X") for scenarios, phases, initialize steps, shard runs, weight uploads and every
/// recovery step; instant events ("i") for faults, failovers, breaker, state and route changes;
/// counters ("C") for requests in flight and bytes uploaded. Times are microseconds on the run's
/// one monotonic clock (the report's `start` and `t` fields). In-process browsers have no OS
/// process of their own: their track ids are poolfault's, not pids.
public enum TraceReport {
    public static func encode(_ report: FaultTestReport) throws -> Data {
        let info = report.testInfo
        return try encode(scenarios: report.scenarios, browsers: info.browsers,
                          about: ["tool": "poolfault \(info.toolVersion)", "model": info.model, "recovery_strategy": info.recoveryStrategy,
                                  "timestamp": info.timestamp, "seed": "\(info.seed)"])
    }

    /// The trace of any scenarios recorded on one clock (a run's, or `bench recovery`'s trials).
    public static func encode(scenarios: [ScenarioResult], browsers: [String], about: [String: String]) throws -> Data {
        var tracks = Tracks(browsers: browsers)
        var events: [[String: Any]] = []
        for (key, scenario) in zip(ScenarioResult.reportKeys(for: scenarios), scenarios) {
            events += scenarioEvents(key, scenario, &tracks)
        }
        // Per track in time order, a parent before the slices it contains.
        events.sort { a, b in
            let ka = (a["pid"] as? Int ?? 0, a["tid"] as? Int ?? 0, a["ts"] as? Int64 ?? 0, -(a["dur"] as? Int64 ?? 0))
            let kb = (b["pid"] as? Int ?? 0, b["tid"] as? Int ?? 0, b["ts"] as? Int64 ?? 0, -(b["dur"] as? Int64 ?? 0))
            return ka < kb
        }
        let trace: [String: Any] = [
            "traceEvents": tracks.metadata() + events,
            "displayTimeUnit": "ms",
            "otherData": about.merging(["clock": "monotonic, microseconds since the run started"]) { a, _ in a },
        ]
        do {
            return try JSONSerialization.data(withJSONObject: trace, options: [.sortedKeys])
        } catch {
            throw ReportWriteError.unencodable(reason: "trace: \(error)")
        }
    }

    /// Writes the trace to `url`, replacing it.
    public static func write(_ report: FaultTestReport, to url: URL) throws {
        try ReportFiles.replace(url, with: try encode(report))
    }

    /// Microseconds, rounded the same way for every start and end so containment survives.
    static func micros(_ seconds: Double) -> Int64 { Int64((seconds * 1e6).rounded()) }

    static func slice(_ name: String, _ category: String, _ track: (pid: Int, tid: Int), start: Double, duration: Double,
                      args: [String: Any] = [:]) -> [String: Any] {
        let ts = micros(start)
        return ["name": name, "cat": category, "ph": "X", "pid": track.pid, "tid": track.tid, "ts": ts,
                "dur": max(0, micros(start + duration) - ts), "args": args]
    }

    static func scenarioEvents(_ key: String, _ s: ScenarioResult, _ tracks: inout Tracks) -> [[String: Any]] {
        var out: [[String: Any]] = []
        let timed = s.phases.filter { $0.result.start != nil }
        if let first = timed.first?.result.start, let last = timed.last {
            let end = (last.result.start ?? first) + last.result.duration
            out.append(slice("scenario: \(key)", "scenario", Tracks.scenarios, start: first, duration: end - first,
                             args: ["success": s.overallSuccess, "description": s.description]))
        }
        for phase in timed {
            out.append(slice(phase.name.rawValue, "phase", Tracks.scenarios, start: phase.result.start ?? 0, duration: phase.result.duration,
                             args: ["success": phase.result.success, "message": phase.result.message]))
        }
        for step in s.recovery?.steps ?? [] {
            guard let start = step.start else { continue }
            var args: [String: Any] = [:]
            if let bytes = step.bytes { args["bytes"] = bytes }
            if let detail = step.detail { args["detail"] = detail }
            out.append(slice(step.name, "recovery", tracks.track(for: step.context), start: start, duration: step.duration, args: args))
        }
        for span in s.spans {
            out.append(slice(span.name, span.category, tracks.track(for: span.context), start: span.start, duration: span.duration,
                             args: span.args))
        }
        for event in s.events {
            // The router's decisions on its own track; what happened to a context on the context's.
            let routing = event.kind == "failover" || event.kind == "route"
            let track = routing ? Tracks.router : event.context.map { tracks.track(for: $0) } ?? Tracks.router
            out.append(["name": "\(event.kind): \(event.detail)".prefix(120).description, "cat": event.kind, "ph": "i", "s": "t",
                        "pid": track.pid, "tid": track.tid, "ts": micros(event.t), "args": ["detail": event.detail]])
        }
        for counter in s.counters {
            out.append(["name": counter.name, "ph": "C", "pid": Tracks.pool, "tid": 0, "ts": micros(counter.t),
                        "args": ["value": counter.value]])
        }
        return out
    }

    /// Process and thread ids: the pool is process 1; each browser a process of its own, with a
    /// thread per context (chrome, chrome-2, …).
    struct Tracks {
        static let pool = 1
        static let scenarios = (pid: 1, tid: 1)
        static let router = (pid: 1, tid: 2)
        static let poolRecovery = (pid: 1, tid: 3)

        private(set) var browserPids: [String: Int] = [:]
        private(set) var contextTracks: [String: (pid: Int, tid: Int)] = [:]

        init(browsers: [String]) {
            var configuration = PoolConfiguration()
            configuration.browsers = browsers
            for (name, browser) in configuration.contextNames {
                let pid = browserPids[browser] ?? (10 + browserPids.count)
                browserPids[browser] = pid
                let tid = contextTracks.values.filter { $0.pid == pid }.count + 1
                contextTracks[name] = (pid, tid)
            }
        }

        /// A context's track; "pool", "group" and anything unknown go to the pool's recovery thread.
        func track(for context: String?) -> (pid: Int, tid: Int) {
            context.flatMap { contextTracks[$0] } ?? Tracks.poolRecovery
        }

        func metadata() -> [[String: Any]] {
            var out: [[String: Any]] = [
                ["name": "process_name", "ph": "M", "ts": 0, "pid": Tracks.pool, "tid": 0, "args": ["name": "pool"]],
                ["name": "process_sort_index", "ph": "M", "ts": 0, "pid": Tracks.pool, "tid": 0, "args": ["sort_index": 0]],
                ["name": "thread_name", "ph": "M", "ts": 0, "pid": 1, "tid": 1, "args": ["name": "scenarios and phases"]],
                ["name": "thread_name", "ph": "M", "ts": 0, "pid": 1, "tid": 2, "args": ["name": "router"]],
                ["name": "thread_name", "ph": "M", "ts": 0, "pid": 1, "tid": 3, "args": ["name": "recovery (pool-wide steps)"]],
            ]
            for (browser, pid) in browserPids.sorted(by: { $0.value < $1.value }) {
                out.append(["name": "process_name", "ph": "M", "ts": 0, "pid": pid, "tid": 0, "args": ["name": "browser \(browser)"]])
                out.append(["name": "process_sort_index", "ph": "M", "ts": 0, "pid": pid, "tid": 0, "args": ["sort_index": pid]])
            }
            for (context, track) in contextTracks.sorted(by: { ($0.value.pid, $0.value.tid) < ($1.value.pid, $1.value.tid) }) {
                out.append(["name": "thread_name", "ph": "M", "ts": 0, "pid": track.pid, "tid": track.tid, "args": ["name": "context \(context)"]])
            }
            return out
        }
    }
}
