import FaultTest
import Foundation

/// The soak's figures and verdict, from its raw requests and faults. Latency percentiles are
/// HdrHistogram's (`Samples`) per window: before the first fault, during a fault (from the fault
/// until its recovery ended), after (every other moment past the first fault).
struct SoakReport: Encodable {
    struct Window: Encodable {
        let requests: Int
        let p50Ms, p99Ms, maxMs: Double
    }
    struct FaultRow: Encodable {
        let kind: String
        let planned: Bool
        let count: Int
        let recovered: Int
        let detectionP50Ms: Double?
        let recoveryP50Ms: Double
    }
    struct Verdict: Encodable {
        let pass: Bool
        let reasons: [String]
    }
    /// Silent corruption over the soak: what the checks caught, how fast, and what reached clients.
    struct Corruption: Encodable {
        let checks: String
        let injected: Int
        /// Injected corruptions a check caught, and the ones no check ever caught.
        let caught: Int
        let uncaught: Int
        /// Catches of a corruption nobody injected (false positives, or bad hardware).
        let unplannedCatches: Int
        /// Every catch by check (a corruption is often caught by several requests and a scrub).
        let detectionsByCheck: [String: Int]
        let detectionP50Ms: Double?
        let detectionP99Ms: Double?
        /// Requests checked against the CPU reference; requests whose answer reached the client
        /// wrong (= requests_wrong); requests that met a wrong shard output a check caught.
        let requestsVerified: Int
        let wrongAnswersServed: Int
        let wrongAnswersCaught: Int
        let scrubs: Int
        let scrubSeconds: Double
    }

    /// 1.1: `timestamp`, `host` and `histograms` (HdrHistograms that `poolfault report merge` adds);
    /// 1.2: `requests_limit`, `corruption`; 1.3: `fault_limit`.
    let schemaVersion = ReportVersion.soak
    let tool = "poolfault soak"
    let timestamp: String
    let host: HostIdentity?
    let model: String
    let browsers: [String]
    let device: String
    let isolation: String
    let strategy: String
    let seed: UInt64
    let durationSeconds: Double
    let clients: Int
    let faultIntervalSeconds: Double
    let faultKinds: [String]
    let requests: Int
    let requestsPerSecond: Double
    let requestsLost: Int
    let requestsWrong: Int
    /// Share of requests served without the CPU fallback (and not lost).
    let availability: Double
    let latency: [String: Window]
    let faults: [SoakFault]
    let faultSummary: [FaultRow]
    /// Request latency per window, and detection and recovery per fault kind.
    let histograms: [ReportHistogram]
    let sloAvailability: Double
    let sloP99Ratio: Double
    /// p99 during faults ÷ p99 before them (nil when a window is empty).
    let p99Ratio: Double?
    let verdict: Verdict
    /// A few lost or wrong requests, with what happened.
    let examples: [String]
    /// `--requests`: the soak stopped after this many requests instead of a duration.
    let requestsLimit: Int?
    /// `--fault-count`: the soak stopped after this many planned faults instead of a duration.
    let faultLimit: Int?
    /// A signal stopped the soak early: which, and when (it then does not pass).
    let interrupted: String?
    let corruption: Corruption

    init(result: SoakResult, plan: SoakPlan, model: String, browsers: [String], integrity: String = "", device: String, isolation: String,
         sloAvailability: Double, sloP99Ratio: Double, timestamp: String = "", host: HostIdentity? = nil) {
        requestsLimit = plan.requests
        faultLimit = plan.faultCount
        interrupted = result.interrupted
        self.timestamp = timestamp; self.host = host
        self.model = model; self.browsers = browsers; self.device = device; self.isolation = isolation
        strategy = plan.strategy.rawValue; seed = plan.seed; durationSeconds = result.seconds; clients = plan.clients
        faultIntervalSeconds = plan.faultInterval.seconds; faultKinds = plan.faults.map(\.rawValue)
        self.sloAvailability = sloAvailability; self.sloP99Ratio = sloP99Ratio
        let all = result.requests
        requests = all.count
        requestsPerSecond = Double(all.count) / max(result.seconds, 0.001)
        var lost = 0, wrong = 0, served = 0
        var examples: [String] = []
        for r in all {
            switch r.outcome {
            case .ok: if !r.degraded { served += 1 }
            case .wrong(let why): wrong += 1; if examples.count < 5 { examples.append(String(format: "wrong at %.2f s: %@", r.start, why)) }
            case .lost(let why): lost += 1; if examples.count < 5 { examples.append(String(format: "lost at %.2f s: %@", r.start, why)) }
            }
        }
        requestsLost = lost; requestsWrong = wrong; self.examples = examples
        availability = all.isEmpty ? 0 : Double(served) / Double(all.count)
        let windows = result.windows
        let firstFault = result.faults.map(\.struck).min() ?? .infinity
        var byWindow: [String: Samples] = ["before": Samples(), "during": Samples(), "after": Samples()]
        for r in all where r.outcome == .ok {
            let key = r.start < firstFault ? "before" : windows.contains { $0.contains(r.start) } ? "during" : "after"
            byWindow[key]?.add(r.seconds)
        }
        latency = byWindow.mapValues { Window(requests: $0.count, p50Ms: $0.ms(50), p99Ms: $0.ms(99), maxMs: $0.ms(100)) }
        // The report's histograms are these same samples' (what `report merge` adds).
        let strategy = plan.strategy.rawValue
        func key(_ metric: String, _ scenario: String, _ step: String? = nil) -> HistogramKey {
            HistogramKey(metric: metric, scenario: scenario, strategy: strategy, isolation: isolation, step: step)
        }
        var histograms = ["before", "during", "after"].compactMap { byWindow[$0]!.report(key("request", "soak", $0)) }
        var rows: [FaultRow] = []
        // By kind: an unplanned death has its own kind (unplanned_exit), so kind alone is the key.
        for (kind, group) in Dictionary(grouping: result.faults, by: \.kind).sorted(by: { $0.key < $1.key }) {
            var detection = Samples(), recovery = Samples()
            for f in group {
                if let d = f.detectionSeconds { detection.add(d) }
                if f.recovered { recovery.add(f.recoverySeconds) }
            }
            rows.append(FaultRow(kind: kind, planned: group[0].planned, count: group.count, recovered: group.filter(\.recovered).count,
                                 detectionP50Ms: detection.count > 0 ? detection.ms(50) : nil, recoveryP50Ms: recovery.ms(50)))
            histograms += [detection.report(key("detection", kind)), recovery.report(key("recovery", kind))].compactMap { $0 }
        }
        faults = result.faults
        faultSummary = rows.sorted { ($0.planned ? 0 : 1, $0.kind) < ($1.planned ? 0 : 1, $1.kind) }
        self.histograms = histograms
        let before = latency["before"], during = latency["during"]
        p99Ratio = (before?.requests ?? 0) > 0 && (during?.requests ?? 0) > 0 && (before?.p99Ms ?? 0) > 0
            ? (during!.p99Ms / before!.p99Ms) : nil
        var reasons: [String] = []
        if lost > 0 { reasons.append("\(lost) request(s) lost") }
        if wrong > 0 { reasons.append("\(wrong) answer(s) differ from the CPU reference") }
        if availability < sloAvailability { reasons.append(String(format: "availability %.4f below the SLO %.4f", availability, sloAvailability)) }
        if let ratio = p99Ratio, ratio > sloP99Ratio {
            reasons.append(String(format: "p99 during faults is %.2f× p99 before them, above the SLO %.2f×", ratio, sloP99Ratio))
        }
        let unrecovered = result.faults.filter { !$0.recovered }.count
        if unrecovered > 0 { reasons.append("\(unrecovered) fault(s) not recovered") }
        if let interrupted = result.interrupted { reasons.append("interrupted by \(interrupted): the soak did not run its course") }
        else if !result.degradedAtEnd.isEmpty {
            reasons.append("the pool ended degraded: " + result.degradedAtEnd.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if all.isEmpty { reasons.append("no request was served") }
        let corruptionFaults = result.faults.filter { $0.kind == "silent_corruption" }
        let planned = corruptionFaults.filter(\.planned)
        var detection = Samples()
        for f in planned { if let d = f.detectionSeconds { detection.add(d) } }
        corruption = Corruption(checks: integrity, injected: planned.count, caught: planned.filter { $0.detectionSeconds != nil }.count,
                                uncaught: planned.filter { $0.detectionSeconds == nil && !$0.recovered }.count,
                                unplannedCatches: corruptionFaults.filter { !$0.planned }.count,
                                detectionsByCheck: Dictionary(grouping: result.detections, by: \.detector.rawValue).mapValues(\.count),
                                detectionP50Ms: detection.count > 0 ? detection.ms(50) : nil, detectionP99Ms: detection.count > 0 ? detection.ms(99) : nil,
                                requestsVerified: all.filter(\.verified).count, wrongAnswersServed: wrong,
                                wrongAnswersCaught: all.filter { $0.caught > 0 }.count, scrubs: result.scrubs, scrubSeconds: result.scrubSeconds)
        if corruption.uncaught > 0 { reasons.append("\(corruption.uncaught) silent corruption(s) never caught") }
        if corruption.unplannedCatches > 0 {
            reasons.append("silent corruption caught \(corruption.unplannedCatches) time(s) with none injected (a false positive, or suspect hardware)")
        }
        verdict = Verdict(pass: reasons.isEmpty, reasons: reasons)
    }

    var terminal: String {
        var out = ["SOAK: \(model) · \(browsers.joined(separator: ",")) · \(isolation) isolation · \(strategy) · \(device)",
                   String(format: "%.1f s · %d clients · a fault every ~%.1f s (%@)", durationSeconds, clients, faultIntervalSeconds,
                          faultKinds.joined(separator: ", ")),
                   String(format: "requests: %d (%.1f/s) · lost %d · wrong %d · availability %.4f (SLO ≥ %.4f)",
                          requests, requestsPerSecond, requestsLost, requestsWrong, availability, sloAvailability),
                   "latency (ms)   requests      p50      p99      max"]
        for key in ["before", "during", "after"] {
            guard let w = latency[key] else { continue }
            out.append(key.padding(toLength: 14, withPad: " ", startingAt: 0) + String(format: "%9d %8.1f %8.1f %8.1f", w.requests, w.p50Ms, w.p99Ms, w.maxMs))
        }
        if let ratio = p99Ratio { out.append(String(format: "p99 during ÷ before: %.2f (SLO ≤ %.2f)", ratio, sloP99Ratio)) }
        out.append("faults            count  recovered  detection p50 ms  recovery p50 ms")
        for f in faultSummary {
            let name = f.planned ? f.kind : "\(f.kind) (unplanned)"
            out.append(name.padding(toLength: 18, withPad: " ", startingAt: 0)
                       + String(format: "%5d  %9d  %16@  %15.1f", f.count, f.recovered, f.detectionP50Ms.map { String(format: "%.1f", $0) } ?? "—", f.recoveryP50Ms))
        }
        if corruption.injected > 0 || !corruption.detectionsByCheck.isEmpty || corruption.scrubs > 0 {
            let byCheck = corruption.detectionsByCheck.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            out.append("silent corruption: \(corruption.injected) injected, \(corruption.caught) caught"
                       + (corruption.detectionP50Ms.map { String(format: " (p50 %.1f ms, p99 %.1f ms after injection)", $0, corruption.detectionP99Ms ?? $0) } ?? "")
                       + ", \(corruption.uncaught) never caught, \(corruption.unplannedCatches) unplanned catch(es) · catches by check: \(byCheck.isEmpty ? "none" : byCheck)")
            out.append(String(format: "answers: %d verified against the CPU reference · %d wrong served · %d wrong caught · %d scrubs (%.1f s) · checks: %@",
                              corruption.requestsVerified, corruption.wrongAnswersServed, corruption.wrongAnswersCaught, corruption.scrubs,
                              corruption.scrubSeconds, corruption.checks))
        }
        out += examples.map { "  \($0)" }
        out.append("Overall Result: " + (verdict.pass ? "✅ SUCCESS" : "❌ FAILED: " + verdict.reasons.joined(separator: "; ")))
        return out.joined(separator: "\n")
    }
}
