import Foundation

/// The text view of `bench recovery`: percentiles, step medians, the control, the original's
/// claims, and the targets.
enum BenchRecoveryTable {
    static func render(rows: [BenchRecoveryCommand.Row], initializeP50: Double, device: String, model: String,
                       trials: Int, cache: String) -> String {
        var out = ["Recovery latency on \(device) · \(model) · \(trials) trials per row, each on a fresh pool · Mesa shader cache: \(cache)",
                   String(format: "control: cold initialize of the same pool, p50 %.1f ms", initializeP50),
                   "",
                   "scenario           strategy      p50 ms    p95 ms    p99 ms    max ms   original claimed   inference p50 before/during/after ms   fails"]
        for r in rows {
            let claimed = r.claimedMs.map { String(format: "%.0f ms", $0) } ?? "—"
            let inf = String(format: "%.0f / %.0f / %.0f", r.inference["before"] ?? 0, r.inference["during"] ?? 0, r.inference["after"] ?? 0)
            out.append(r.scenario.padding(toLength: 19, withPad: " ", startingAt: 0) + r.strategy.padding(toLength: 12, withPad: " ", startingAt: 0)
                       + String(format: "%8.1f  %8.1f  %8.1f  %8.1f   ", r.p50Ms, r.p95Ms, r.p99Ms, r.maxMs)
                       + claimed.padding(toLength: 19, withPad: " ", startingAt: 0) + inf.padding(toLength: 39, withPad: " ", startingAt: 0)
                       + "\(r.failures)")
        }
        out.append("")
        out.append("step medians (ms):")
        let order = ["detection", "cleanup", "device_query", "device_creation", "queue_creation", "pipeline_creation",
                     "weight_upload", "first_dispatch", "verification", "routing_switch", "backoff", "rollback"]
        for r in rows {
            let steps = order.compactMap { name in r.steps[name].map { String(format: "%@ %.1f", name, $0) } }
            out.append("  \(r.scenario)/\(r.strategy): " + steps.joined(separator: " · "))
        }
        out.append("")
        if let line = verdict(rows.filter { $0.scenario == "connection_lost" }, bound: 5, label: "connection_lost recovery p50 ≤ 5 ms") {
            out.append(line)
        }
        if let line = verdict(rows.filter { $0.scenario == "browser_crash" }, bound: initializeP50 / 2,
                              label: String(format: "browser_crash recovery p50 ≤ half the cold initialize (%.0f ms)", initializeP50 / 2)) {
            out.append(line)
        }
        return out.joined(separator: "\n")
    }

    /// "met" only when every trial of every row recovered and the worst p50 is within `bound`:
    /// a failed recovery has no latency, so a row with failures can never meet a target.
    static func verdict(_ rows: [BenchRecoveryCommand.Row], bound: Double, label: String) -> String? {
        guard let worst = rows.map(\.p50Ms).max() else { return nil }
        let failed = rows.reduce(0) { $0 + $1.failures }, total = rows.reduce(0) { $0 + $1.trials }
        if failed > 0 {
            return "target \(label): NOT met (\(failed) of \(total) recoveries failed; failures are not timed)"
        }
        return String(format: "target %@: %@ (worst strategy %.2f ms)", label, worst <= bound ? "met" : "NOT met", worst)
    }
}
