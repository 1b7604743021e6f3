import Foundation

/// The text view of `bench recovery`: percentiles, step medians, the control, the original's
/// claims, and the targets.
enum BenchRecoveryTable {
    static func render(rows: [BenchRecoveryCommand.Row], initializeP50: [String: Double], device: String, model: String,
                       trials: Int, cache: String, watchdogMs: Double) -> String {
        var out = ["Recovery latency on \(device) · \(model) · \(trials) trials per row, each on a fresh pool · Mesa shader cache: \(cache)",
                   "control: cold initialize of the same pool, p50 " + initializeP50.sorted { $0.key < $1.key }
                       .map { String(format: "%.1f ms (%@ isolation)", $0.value, $0.key) }.joined(separator: ", "),
                   "",
                   "scenario           strategy    isolation  detect p50     p50 ms    p95 ms    p99 ms    max ms   original claimed   inference p50 before/during/after ms   fails"]
        for r in rows {
            let claimed = r.claimedMs.map { String(format: "%.0f ms", $0) } ?? "—"
            let inf = String(format: "%.0f / %.0f / %.0f", r.inference["before"] ?? 0, r.inference["during"] ?? 0, r.inference["after"] ?? 0)
            out.append(r.scenario.padding(toLength: 19, withPad: " ", startingAt: 0) + r.strategy.padding(toLength: 12, withPad: " ", startingAt: 0)
                       + r.isolation.padding(toLength: 9, withPad: " ", startingAt: 0)
                       + String(format: "%10.1f  %9.1f  %8.1f  %8.1f  %8.1f   ", r.detectionP50Ms, r.p50Ms, r.p95Ms, r.p99Ms, r.maxMs)
                       + claimed.padding(toLength: 19, withPad: " ", startingAt: 0) + inf.padding(toLength: 39, withPad: " ", startingAt: 0)
                       + "\(r.failures)")
        }
        out.append("")
        out.append("step medians (ms):")
        let order = ["detection", "cleanup", "process_spawn", "weight_mapping", "instance_creation", "device_query", "device_creation",
                     "queue_creation", "reconnect", "pipeline_creation", "weight_upload", "first_dispatch", "verification", "routing_switch",
                     "backoff", "rollback"]
        for r in rows {
            let steps = order.compactMap { name in r.steps[name].map { String(format: "%@ %.1f", name, $0) } }
            out.append("  \(r.scenario)/\(r.strategy)/\(r.isolation): " + steps.joined(separator: " · "))
        }
        out.append("")
        for mode in ["process", "thread"] {
            let modeRows = rows.filter { $0.isolation == mode }
            guard !modeRows.isEmpty else { continue }
            if let line = verdict(modeRows.filter { $0.scenario == "connection_lost" }, bound: 5, label: "\(mode): connection_lost recovery p50 ≤ 5 ms") {
                out.append(line)
            }
            let initialize = initializeP50[mode] ?? 0
            if let line = verdict(modeRows.filter { $0.scenario == "browser_crash" }, bound: initialize / 2,
                                  label: String(format: "%@: browser_crash recovery p50 ≤ half the cold initialize (%.0f ms)", mode, initialize / 2)) {
                out.append(line)
            }
        }
        let crashes = rows.filter { $0.isolation == "process" && $0.scenario == "browser_crash" }
        if let line = verdict(crashes, bound: 5, label: "process: crash detection (SIGKILL → the pool knows) p50 ≤ 5 ms", value: \.detectionP50Ms) {
            out.append(line)
        }
        for kind in ["gpu_hang", "browser_freeze"] {
            let hangs = rows.filter { $0.scenario == kind }
            if let line = verdict(hangs, bound: watchdogMs + 50,
                                  label: String(format: "process: %@ detected within the watchdog + 50 ms (%.0f ms; the hung request's wait)", kind, watchdogMs + 50),
                                  value: { $0.watchdogP50Ms ?? .infinity }) {
                out.append(line)
            }
        }
        return out.joined(separator: "\n")
    }

    /// "met" only when every trial of every row recovered and the worst p50 is within `bound`:
    /// a failed recovery has no latency, so a row with failures can never meet a target.
    static func verdict(_ rows: [BenchRecoveryCommand.Row], bound: Double, label: String,
                        value: (BenchRecoveryCommand.Row) -> Double = \.p50Ms) -> String? {
        guard let worst = rows.map(value).max() else { return nil }
        let failed = rows.reduce(0) { $0 + $1.failures }, total = rows.reduce(0) { $0 + $1.trials }
        if failed > 0 {
            return "target \(label): NOT met (\(failed) of \(total) recoveries failed; failures are not timed)"
        }
        return String(format: "target %@: %@ (worst strategy %.2f ms)", label, worst <= bound ? "met" : "NOT met", worst)
    }
}
