import Foundation
import ResourcePool

/// GitHub Actions: the Markdown job summary (appended to the file `GITHUB_STEP_SUMMARY` names)
/// and `::error` workflow commands for failed scenarios, which annotate the run.
public enum StepSummary {
    /// GitHub keeps at most 1 MiB of summary per step; ours stays well below.
    static let limit = 1 << 20

    public static func markdown(_ report: FaultTestReport) -> String {
        let info = report.testInfo, summary = report.summary
        var lines = [
            "### poolfault: \(summary.overallSuccess ? "✅ SUCCESS" : "❌ FAILURE") — \(summary.successfulScenarios)/\(summary.totalScenarios) scenarios",
            "",
            "`\(info.model)` · strategy `\(info.recoveryStrategy)` · seed \(info.seed) · browsers \(info.browsers.joined(separator: ", ")) · "
                + "devices: \(Set(info.devices.map(\.name)).sorted().joined(separator: ", "))",
            "",
            "| scenario | result | fault | recovery | re-uploaded | max abs error |",
            "|---|---|---|---|---|---|",
        ]
        for (key, s) in zip(ScenarioResult.reportKeys(for: report.scenarios), report.scenarios) {
            let recovery = s.recovery.map { "\(ReportFormat.milliseconds($0.duration)) (\($0.strategy)\($0.success ? "" : ", failed"))" } ?? "—"
            let bytes = s.recovery.map { ReportFormat.bytes($0.bytesUploaded) } ?? "—"
            let error = s.numerics.values.map(\.maxAbsError).max().map { ReportFormat.scientific($0) } ?? "—"
            let fault = s.fault.map { "\($0.kind.rawValue) on \($0.targets.joined(separator: ", "))" } ?? "—"
            lines.append("| \(escape(key)) | \(s.overallSuccess ? "✅ pass" : "❌ fail") | \(escape(fault)) | \(recovery) | \(bytes) | \(error) |")
        }
        let corrupted = zip(ScenarioResult.reportKeys(for: report.scenarios), report.scenarios).filter { $0.1.corruption != nil }
        if !corrupted.isEmpty {
            lines += ["", "#### Silent corruption", ""]
            for (key, s) in corrupted { lines.append("- **\(escape(key))**: " + escape(TerminalReport.corruptionText(s.corruption!))) }
        }
        let failed = report.scenarios.filter { !$0.overallSuccess }
        if !failed.isEmpty {
            lines += ["", "#### Failed phases", ""]
            for s in failed {
                for phase in s.phases where !phase.result.success {
                    lines.append("- **\(escape(s.scenario))** `\(phase.name.rawValue)`: \(escape(phase.result.message))")
                }
            }
        }
        let recovered = report.scenarios.compactMap { s in s.recovery.map { (s.scenario, $0) } }
        if !recovered.isEmpty {
            lines += ["", "<details><summary>Recovery steps</summary>", ""]
            for (name, r) in recovered {
                let steps = r.steps.map { "\($0.name) \($0.context) \(ReportFormat.milliseconds($0.duration))" }
                lines.append("- **\(escape(name))**: " + escape(steps.joined(separator: " · ")))
            }
            lines += ["", "</details>"]
        }
        var text = lines.joined(separator: "\n") + "\n"
        if text.utf8.count > limit / 2 { text = String(text.utf8.prefix(limit / 2))! + "\n… (cut)\n" }
        return text
    }

    /// One `::error` line per failed scenario (GitHub reads workflow commands from the log).
    public static func errorAnnotations(_ report: FaultTestReport) -> [String] {
        report.scenarios.filter { !$0.overallSuccess }.map { s in
            let phase = s.failedPhase
            let message = phase.map { "\($0.name.rawValue): \($0.result.message)" } ?? "incomplete"
            return "::error title=\(property("poolfault: \(s.scenario) failed"))::\(data(message))"
        }
    }

    /// Appends the summary to `path` (GITHUB_STEP_SUMMARY).
    public static func append(_ report: FaultTestReport, to path: String) throws {
        guard let handle = FileHandle(forWritingAtPath: path) ?? {
            FileManager.default.createFile(atPath: path, contents: nil) ? FileHandle(forWritingAtPath: path) : nil
        }() else {
            throw ReportWriteError.unwritable(path: path, reason: "cannot open GITHUB_STEP_SUMMARY for appending")
        }
        defer { try? handle.close() }
        do {
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(markdown(report).utf8))
        } catch {
            throw ReportWriteError.unwritable(path: path, reason: "\(error)")
        }
    }

    /// Markdown table cells: no pipes or line breaks.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }

    /// Workflow-command escaping of the message: %, CR, LF.
    static func data(_ text: String) -> String {
        text.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D")
            .replacingOccurrences(of: "\n", with: "%0A")
    }

    /// … and of a property (title=…): also ':' and ','.
    static func property(_ text: String) -> String {
        data(text).replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: ",", with: "%2C")
    }
}
