import Foundation
import ResourcePool

/// The JUnit XML report (`--junit FILE`) for CI: one testcase per scenario, the phases (as the
/// terminal prints them) in its system-out. Written by hand rather than through an XML
/// library so the output is the same on every platform, and escaped for XML 1.0.
public enum JUnitReport {
    public static func xml(_ report: FaultTestReport) -> String {
        let info = report.testInfo
        let summary = report.summary
        let keys = ScenarioResult.reportKeys(for: report.scenarios)
        let totalTime = report.scenarios.reduce(0) { $0 + time(of: $1) }
        let failedChecks = report.checks.filter { !$0.success }.count
        let counts = "tests=\"\(summary.totalScenarios + report.checks.count)\" failures=\"\(summary.totalScenarios - summary.successfulScenarios + failedChecks)\""
            + " errors=\"0\""
        let timestamp = isoTimestamp(info.timestamp).map { " timestamp=\"\(attribute($0))\"" } ?? ""

        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuites name=\"poolfault\" \(counts) time=\"\(seconds(totalTime))\">\n"
        out += "  <testsuite name=\"poolfault\" \(counts) skipped=\"0\" time=\"\(seconds(totalTime))\"\(timestamp)>\n"
        out += "    <properties>\n"
        var properties: [(String, String)] = [
            ("model", info.model), ("recovery_strategy", info.recoveryStrategy), ("seed", String(info.seed)),
            ("tool_version", info.toolVersion), ("shard_type", info.shardType), ("context_mode", info.contextMode),
        ]
        properties += info.devices.map { ("device.\($0.context)", "\($0.name) (\($0.backend), \($0.driver))") }
        for (name, value) in properties {
            out += "      <property name=\"\(attribute(name))\" value=\"\(attribute(value))\"/>\n"
        }
        out += "    </properties>\n"
        for (key, scenario) in zip(keys, report.scenarios) {
            let classname = attribute("\(info.model).\(scenario.strategy ?? info.recoveryStrategy)")
            out += "    <testcase classname=\"\(classname)\" name=\"\(attribute(key))\" time=\"\(seconds(time(of: scenario)))\""
            let lines = scenario.phases.map { TerminalReport.phaseLine($0, color: false) }
                + TerminalReport.detailLines(scenario, devices: info.devices)
            if scenario.overallSuccess {
                out += ">\n"
            } else {
                let failed = scenario.phases.filter { !$0.result.success }
                // The first failed phase is the cause; a scenario can also fail its verdict
                // with every phase passing (e.g. recovery left the pool degraded).
                let message = scenario.failedPhase?.result.message ?? scenario.recovery?.message ?? "scenario failed"
                let type = scenario.failedPhase?.name.rawValue ?? "verdict"
                var body = failed.isEmpty ? [message] : failed.map { TerminalReport.phaseLine($0, color: false) }
                // The phase says "Recovery failed"; the strategy says why.
                if let recovery = scenario.recovery, !recovery.success {
                    body.append("  recovery (\(recovery.strategy)): \(ReportFormat.singleLine(recovery.message))")
                }
                out += ">\n      <failure message=\"\(attribute(message))\" type=\"\(attribute(type))\">"
                out += text(body.joined(separator: "\n")) + "</failure>\n"
            }
            out += "      <system-out>\(text(lines.joined(separator: "\n")))</system-out>\n"
            out += "    </testcase>\n"
        }
        for check in report.checks {
            out += "    <testcase classname=\"\(attribute("\(info.model).checks"))\" name=\"\(attribute(check.name))\" time=\"\(seconds(check.duration))\""
            out += check.success ? ">\n" : ">\n      <failure message=\"\(attribute(check.message))\" type=\"check\">\(text(check.message))</failure>\n"
            let figures = check.figures.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
            out += "      <system-out>\(text(([check.message] + figures).joined(separator: "\n")))</system-out>\n"
            out += "    </testcase>\n"
        }
        out += "  </testsuite>\n</testsuites>\n"
        return out
    }

    /// Writes the XML to `url` (replacing it; its directory is created). Atomic.
    public static func write(_ report: FaultTestReport, to url: URL) throws(ReportWriteError) {
        try ReportFiles.replace(url, with: Data(xml(report).utf8))
    }

    /// A scenario's time: the sum of its phases' durations.
    static func time(of scenario: ScenarioResult) -> Double {
        scenario.phases.reduce(0) { $0 + ($1.result.duration.isFinite ? max(0, $1.result.duration) : 0) }
    }

    private static func seconds(_ value: Double) -> String { String(format: "%.3f", value.isFinite ? value : 0) }

    /// "20261124_234829" → "2026-11-24T23:48:29" (JUnit's timestamp is ISO 8601); nil if the
    /// text is not in that form.
    static func isoTimestamp(_ stamp: String) -> String? {
        let digits = Array(stamp)
        guard digits.count == 15, digits[8] == "_",
              digits.enumerated().allSatisfy({ $0.offset == 8 || $0.element.isASCII && $0.element.isNumber }) else {
            return nil
        }
        let s = String(digits)
        func part(_ from: Int, _ length: Int) -> Substring {
            s.dropFirst(from).prefix(length)
        }
        return "\(part(0, 4))-\(part(4, 2))-\(part(6, 2))T\(part(9, 2)):\(part(11, 2)):\(part(13, 2))"
    }

    /// Escapes character data: & < > " ' as entities; characters XML 1.0 forbids (C0 controls
    /// other than tab, newline, carriage return; U+FFFE, U+FFFF) become U+FFFD, since not even
    /// a character reference may name them.
    static func text(_ value: String) -> String { MarkupText.escape(value, inAttribute: false) }

    /// Escapes an attribute value: as `text`, and tab, newline and carriage return as
    /// character references, which survive attribute-value normalisation.
    static func attribute(_ value: String) -> String { MarkupText.escape(value, inAttribute: true) }

}
