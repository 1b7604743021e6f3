import Foundation
import ResourcePool

/// One report file as a fleet merge reads it, whatever command wrote it (`run`, `soak`,
/// `bench recovery`): where it ran, its verdict and why, and its latency histograms. Only the
/// fields every merge needs are decoded, so merging a thousand reports stays fast.
public struct NodeReport: Sendable {
    public var file: String
    /// "poolfault run", "poolfault soak", "poolfault bench recovery".
    public var tool: String
    public var schemaVersion: String
    public var timestamp: String?
    public var model: String?
    /// `run --level` (quick, medium, long).
    public var level: String?
    /// Absent in run reports older than schema 1.4: the node is then named after the file.
    public var host: HostIdentity?
    public var pass: Bool
    /// Why it failed, one line each: "browser_crash: recovery failed: …".
    public var reasons: [String]
    public var histograms: [ReportHistogram]
    /// Each histogram's buckets, decoded and checked against its count.
    public var buckets: [BucketCounts]
    /// The run used a software Vulkan driver (from `host`, or a 1.x run report's devices).
    public var softwareVulkan: Bool
    /// Silent corruption the report saw (run schema 1.6, soak 1.2; zero before).
    public var corruption = SilentCorruptionCount()
    /// The file's content digest (duplicates count once).
    public var digest = ""

    public var node: String { host?.node ?? "unknown host (\((file as NSString).lastPathComponent))" }
}

/// Why a report could not be merged. Each names the file; all are data errors (exit 65).
public struct NodeReportError: Error, CustomStringConvertible {
    public let file: String
    public let reason: String
    public var description: String { "\(file): \(reason)" }
}

extension NodeReport {
    /// The most a report file may be: a node's run report is kilobytes to a few megabytes (every
    /// event of a --repeat 1000 run fits), so anything near this is not one.
    public static let maximumSize = 256 << 20

    /// FNV-1a over the bytes, 64 bits: equal reports, equal digests (a copy under another name).
    static func digest(_ data: Data) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(format: "%016llx", hash)
    }

    /// The tools whose reports merge, by the major schema version this poolfault reads.
    static let majors: [String: String] = ["poolfault run": "1", "poolfault soak": "1", "poolfault bench recovery": "1"]
    public static let fleetTool = "poolfault report merge"

    /// Reads a report file. Returns nil for a fleet report (a merge's own output, skipped);
    /// throws NodeReportError for anything that is not a poolfault report this version reads.
    public static func read(_ url: URL) throws(NodeReportError) -> NodeReport? {
        let file = url.path
        func fail(_ reason: String) -> NodeReportError { NodeReportError(file: file, reason: reason) }
        let data: Data
        var info = stat()
        if stat(file, &info) == 0, Int(info.st_size) > maximumSize {
            throw fail("is \(info.st_size) bytes, more than the \(maximumSize >> 20) MiB a report may be: refused unread")
        }
        do { data = try Data(contentsOf: url) } catch { throw fail("cannot read it (\(error.localizedDescription))") }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let envelope: Envelope
        do {
            envelope = try decoder.decode(Envelope.self, from: data)
        } catch let error as DecodingError {
            throw fail(Self.explain(error, bytes: data.count))
        } catch {
            throw fail("not JSON (\(error))")
        }
        let tool = envelope.tool ?? (envelope.testInfo != nil ? FaultTestReport.tool : nil)
        if tool == fleetTool { return nil }
        guard let tool, let version = envelope.schemaVersion else {
            throw fail("not a poolfault report (no schema_version and tool; was it written by poolfault run, soak or bench recovery?)")
        }
        guard let major = majors[tool] else { throw fail("\"\(tool)\" reports do not merge (only run, soak and bench recovery reports do)") }
        guard version.split(separator: ".").first.map(String.init) == major else {
            throw fail("\(tool) report of schema_version \(version): this poolfault reads \(major).x; merge it with the poolfault that wrote it")
        }
        var report = NodeReport(file: file, tool: tool, schemaVersion: version, timestamp: envelope.timestamp ?? envelope.testInfo?.timestamp,
                                model: envelope.model ?? envelope.testInfo?.model, level: envelope.testInfo?.level, host: envelope.host,
                                pass: false, reasons: [], histograms: [], buckets: [], softwareVulkan: envelope.host?.softwareVulkan ?? false)
        if tool == FaultTestReport.tool {
            guard let info = envelope.testInfo, let summary = envelope.summary, let success = summary.overallSuccess,
                  let scenarios = envelope.scenarios else {
                throw fail("a run report without test_info, scenarios and summary.overall_success")
            }
            report.pass = success
            report.reasons = Self.runReasons(summary: summary, scenarios: scenarios, checks: envelope.checks ?? [])
            // A run cut short by a signal (scancel, a time limit) passed only what it finished: not a pass.
            if let interrupted = info.interrupted {
                report.pass = false
                report.reasons.append("interrupted: \(ReportFormat.singleLine(interrupted))")
            }
            if envelope.host == nil { report.softwareVulkan = info.devices.contains { $0.backend == "webgpu" && $0.software } }
            for s in scenarios.values {
                guard let c = s.corruption else { continue }
                let injected = s.fault?.kind == FaultKind.silentCorruption.rawValue
                report.corruption.injected += injected ? 1 : 0
                report.corruption.caught += injected && !c.detections.isEmpty ? 1 : 0
                report.corruption.unplanned += injected ? 0 : c.detections.count
                report.corruption.wrongServed += c.wrongAnswersServed
                for d in c.detections { report.corruption.byCheck[d.detector, default: 0] += 1 }
            }
            if envelope.histograms == nil {
                // Schema 1.0–1.3: the histograms are derived from the scenarios, as 1.4 writes them.
                do { report.histograms = try JSONReport.decode(data).histograms } catch { throw fail("unreadable run report (\(error))") }
            }
        } else {
            guard let verdict = envelope.verdict else { throw fail("a \(tool) report without a verdict") }
            report.pass = verdict.pass
            report.reasons = verdict.reasons
            if let c = envelope.corruption {
                report.corruption = SilentCorruptionCount(injected: c.injected, caught: c.caught, unplanned: c.unplannedCatches,
                                                          wrongServed: c.wrongAnswersServed, byCheck: c.detectionsByCheck)
            }
        }
        if let histograms = envelope.histograms { report.histograms = histograms }
        for h in report.histograms {
            let buckets: BucketCounts
            do { buckets = try BucketCounts(encoded: h.hdr) } catch { throw fail("histogram \(h.key.label): \(error)") }
            guard buckets.total == h.count else {
                throw fail("histogram \(h.key.label) holds \(buckets.total) values but says count \(h.count)")
            }
            report.buckets.append(buckets)
        }
        if report.corruption.unplanned > 0 {
            report.pass = false
            report.reasons.append("silent corruption caught \(report.corruption.unplanned) time(s) with none injected: suspect hardware")
        }
        if !report.pass && report.reasons.isEmpty { report.reasons = ["failed (the report gives no reason)"] }
        report.digest = Self.digest(data)
        return report
    }

    static func runReasons(summary: Envelope.Summary, scenarios: [String: Envelope.Scenario], checks: [Envelope.Check]) -> [String] {
        var reasons: [String] = []
        for key in summary.failedScenarios ?? [] {
            guard let s = scenarios[key] else { reasons.append("\(key): failed"); continue }
            let phases = s.phases ?? [:]
            let failed = PhaseName.allCases.first { phases[$0.rawValue]?.success == false }
            if let failed, let phase = phases[failed.rawValue] {
                reasons.append("\(key): \(failed.rawValue) failed: \(ReportFormat.singleLine(phase.message ?? ""))")
            } else {
                reasons.append("\(key): failed" + (s.recovery?.message.map { " (\(ReportFormat.singleLine($0)))" } ?? ""))
            }
        }
        for c in checks where !c.success { reasons.append("check \(c.name): \(ReportFormat.singleLine(c.message))") }
        if reasons.isEmpty && summary.overallSuccess != true { reasons.append(summary.totalScenarios == 0 ? "no scenario ran" : "failed") }
        return reasons
    }

    /// "truncated", "not JSON" or the missing field, in words.
    static func explain(_ error: DecodingError, bytes: Int) -> String {
        switch error {
        case .dataCorrupted(let c):
            return c.codingPath.isEmpty ? "not valid JSON (truncated or corrupt; \(bytes) bytes)" : "corrupt at \(path(c.codingPath)): \(c.debugDescription)"
        case .keyNotFound(let key, let c): return "corrupt: \(path(c.codingPath + [key])) is missing"
        case .typeMismatch(_, let c), .valueNotFound(_, let c):
            return c.codingPath.isEmpty ? "not a poolfault report (its top level is not a JSON object)" : "corrupt at \(path(c.codingPath)): \(c.debugDescription)"
        @unknown default: return "unreadable (\(error))"
        }
    }

    static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }

    /// The fields read, across the three report kinds.
    struct Envelope: Decodable {
        struct TestInfo: Decodable {
            struct Device: Decodable { let backend: String; let software: Bool }
            let model: String?; let timestamp: String?; let level: String?; let interrupted: String?; let devices: [Device]
        }
        // Optional, so a fleet report's own `summary` reads far enough to be recognised and skipped.
        struct Summary: Decodable { let overallSuccess: Bool?; let totalScenarios: Int?; let failedScenarios: [String]? }
        struct Phase: Decodable { let success: Bool; let message: String? }
        struct Recovery: Decodable { let message: String? }
        struct Fault: Decodable { let kind: String }
        struct Detection: Decodable { let detector: String }
        struct ScenarioCorruption: Decodable { let detections: [Detection]; let wrongAnswersServed: Int }
        struct Scenario: Decodable { let phases: [String: Phase]?; let recovery: Recovery?; let fault: Fault?; let corruption: ScenarioCorruption? }
        struct SoakCorruption: Decodable {
            let injected: Int; let caught: Int; let unplannedCatches: Int; let wrongAnswersServed: Int; let detectionsByCheck: [String: Int]
        }
        struct Check: Decodable { let name: String; let success: Bool; let message: String }
        struct Verdict: Decodable { let pass: Bool; let reasons: [String] }
        let schemaVersion: String?
        let tool: String?
        let timestamp: String?
        let model: String?
        let host: HostIdentity?
        let histograms: [ReportHistogram]?
        let testInfo: TestInfo?
        let summary: Summary?
        let scenarios: [String: Scenario]?
        let checks: [Check]?
        let verdict: Verdict?
        let corruption: SoakCorruption?
    }
}

/// Silent corruption in one report, or a node's reports added.
public struct SilentCorruptionCount: Codable, Sendable, Equatable {
    /// Corruptions injected, and how many of those a check caught.
    public var injected = 0
    public var caught = 0
    /// Catches where nothing was injected: a false positive, or real corruption (suspect hardware).
    public var unplanned = 0
    /// Answers that reached a client wrong.
    public var wrongServed = 0
    /// Catches by check (reference, checksum, scrub).
    public var byCheck: [String: Int] = [:]

    public init(injected: Int = 0, caught: Int = 0, unplanned: Int = 0, wrongServed: Int = 0, byCheck: [String: Int] = [:]) {
        self.injected = injected; self.caught = caught; self.unplanned = unplanned; self.wrongServed = wrongServed; self.byCheck = byCheck
    }

    public var isEmpty: Bool { injected == 0 && unplanned == 0 && wrongServed == 0 && byCheck.isEmpty }

    mutating func add(_ other: SilentCorruptionCount) {
        injected += other.injected; caught += other.caught; unplanned += other.unplanned; wrongServed += other.wrongServed
        for (k, v) in other.byCheck { byCheck[k, default: 0] += v }
    }

    /// "2 injected, 2 caught (checksum 2, scrub 1) · 0 caught with none injected · 0 wrong served".
    public var summary: String {
        let checks = byCheck.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return "\(injected) injected, \(caught) caught" + (checks.isEmpty ? "" : " (catches: \(checks))")
            + " · \(unplanned) caught with none injected · \(wrongServed) wrong answer\(wrongServed == 1 ? "" : "s") served"
    }
}
