import Foundation
import ResourcePool
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The terminal report: the original tool's layout, character for character
/// (seed/original-terminal-output.txt), plus two lines of ours under each scenario's phases —
/// the devices with the largest numeric error, and the recovery broken down by step.
public enum TerminalReport {
    static let rule = String(repeating: "=", count: 80)

    /// The whole report, lines joined by "\n", without a final newline (print it with `print`,
    /// as the original did).
    public static func render(_ report: FaultTestReport, color: Bool) -> String {
        let style = Style(color: color)
        let info = report.testInfo
        var lines = [
            rule,
            "FAULT TOLERANCE TEST RESULTS - \(ReportFormat.singleLine(info.model))",
            "Recovery Strategy: \(ReportFormat.singleLine(info.recoveryStrategy))",
            "Timestamp: \(ReportFormat.singleLine(info.timestamp))",
            rule,
            "",
        ]
        for scenario in report.scenarios {
            lines += scenarioLines(scenario, devices: info.devices, style: style)
            lines.append("")
        }
        for check in report.checks {
            lines.append("CHECK: \(ReportFormat.singleLine(check.name)) - \(style.verdict(check.success))")
            lines.append("  " + ReportFormat.singleLine(check.message) + String(format: " (%.1f s)", check.duration))
            lines.append("")
        }
        let summary = report.summary
        lines += [
            rule,
            "SUMMARY:",
            "Scenarios: \(summary.successfulScenarios)/\(summary.totalScenarios) successful",
            "Success Rate: " + String(format: "%.1f%%", summary.successRate),
            "Overall Result: \(style.verdict(summary.overallSuccess))",
        ] + (info.interrupted.map { ["Interrupted: \($0)"] } ?? []) + [
            rule,
        ]
        return lines.joined(separator: "\n")
    }

    /// One phase as the original printed it:
    /// `  ✅ <name, left-justified to 20> - <"%.2fs", left-justified to 8> - <message>`.
    public static func phaseLine(_ phase: Phase, color: Bool) -> String {
        let style = Style(color: color)
        let seconds = phase.result.duration.isFinite ? String(format: "%.2fs", phase.result.duration) : "?s"
        return "  \(style.mark(phase.result.success)) \(ReportFormat.leftJustified(phase.name.rawValue, 20))"
            + " - \(ReportFormat.leftJustified(seconds, 8)) - \(ReportFormat.singleLine(phase.result.message))"
    }

    /// Whether to colour output written to `fileDescriptor`: only on a terminal, never when
    /// NO_COLOR is set to anything non-empty (no-color.org) or TERM is "dumb".
    public static func colorEnabled(environment: [String: String] = ProcessInfo.processInfo.environment,
                                    fileDescriptor: Int32 = STDOUT_FILENO) -> Bool {
        if let noColor = environment["NO_COLOR"], !noColor.isEmpty { return false }
        if environment["TERM"] == "dumb" { return false }
        return isatty(fileDescriptor) == 1
    }

    /// A scenario's block: header, description, its phases, then our devices and recovery lines.
    static func scenarioLines(_ scenario: ScenarioResult, devices: [DeviceSummary], style: Style) -> [String] {
        var lines = [
            "SCENARIO: \(ReportFormat.singleLine(scenario.scenario)) - \(style.verdict(scenario.overallSuccess))",
            "Description: \(ReportFormat.singleLine(scenario.description))",
            "",
            "Test Phases:",
        ]
        lines += scenario.phases.map { phaseLine($0, color: style.color) }
        lines += detailLines(scenario, devices: devices)
        return lines
    }

    /// Our two lines under the phases (no colour: they carry no verdict). Also used by JUnit.
    static func detailLines(_ scenario: ScenarioResult, devices: [DeviceSummary]) -> [String] {
        var lines: [String] = []
        // Which device each context ran on: name, and (schema 1.3) index, UUID and PCI bus id.
        let deviceText = devices.map { d in
            "\(d.context)=\(d.name)" + (d.uuid.map { uuid in " #\(d.index.map(String.init) ?? "?") \(uuid)" + (d.pciBusID.map { " @\($0)" } ?? "") } ?? "")
        }.joined(separator: ", ")
        let parts = [deviceText.isEmpty ? nil : "Devices: \(deviceText)", numericsText(scenario.numerics)]
            .compactMap { $0 }
        if !parts.isEmpty { lines.append("  " + ReportFormat.singleLine(parts.joined(separator: " · "))) }
        if let recovery = scenario.recovery { lines.append("  " + ReportFormat.singleLine(recoveryText(recovery))) }
        if let corruption = scenario.corruption { lines.append("  " + ReportFormat.singleLine(corruptionText(corruption))) }
        return lines
    }

    /// "Silent corruption: 64 elements of … · caught by the checksum check on chrome after 21.6 ms
    /// (layer0.attention) · 0 wrong answers served, 1 caught".
    static func corruptionText(_ c: CorruptionSummary) -> String {
        var parts: [String] = []
        if let i = c.injected {
            parts.append("\(i.elements) elements of \(i.tensor) (row \(i.row)), \(i.flips) bits flipped (\(i.magnitude.rawValue), \(i.persistence.rawValue))")
        }
        if let first = c.detections.first {
            let when = c.detectionSeconds.map { " after \(ReportFormat.milliseconds($0))" } ?? ""
            parts.append("caught by the \(first.detector) check on \(first.context)\(when)" + (first.component.map { " (\($0))" } ?? ""))
            let others = Set(c.detections.dropFirst().map(\.detector.rawValue)).subtracting([first.detector.rawValue])
            if !others.isEmpty { parts.append("also by \(others.sorted().joined(separator: ", "))") }
        } else {
            parts.append("not detected")
        }
        parts.append("\(c.wrongAnswersServed) wrong answer\(c.wrongAnswersServed == 1 ? "" : "s") served, \(c.wrongAnswersCaught) caught")
        for (context, why) in (c.isolated ?? [:]).sorted(by: { $0.key < $1.key }) { parts.append("\(context) isolated: \(why)") }
        return "Silent corruption: " + parts.joined(separator: " · ")
    }

    /// "max abs error 4.6e-06 (fault_inference 5.1e-06)": the worst error of the inferences on
    /// a healthy pool, and separately the one that ran with the fault in place (it may have
    /// gone to the CPU fallback, so it is not mixed into the headline).
    static func numericsText(_ numerics: [String: NumericsRecord]) -> String? {
        let faultKey = PhaseName.faultInference.rawValue
        let healthy = numerics.filter { $0.key != faultKey }.map(\.value.maxAbsError)
        let fault = numerics[faultKey].map { record in
            "\(faultKey) \(ReportFormat.scientific(record.maxAbsError))" + (record.degraded ? ", degraded" : "")
        }
        switch (worst(healthy), fault) {
        case (nil, nil): return nil
        case (let headline?, nil): return "max abs error \(ReportFormat.scientific(headline))"
        case (nil, let fault?): return "max abs error (\(fault))"
        case (let headline?, let fault?): return "max abs error \(ReportFormat.scientific(headline)) (\(fault))"
        }
    }

    /// The largest value; NaN wins (it must never look better than a number).
    private static func worst(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        if values.contains(where: \.isNaN) { return .nan }
        return values.max()
    }

    /// "Recovery (progressive): detection 0.4 ms · weight_upload 140 MiB 310 ms · … ·
    /// rebuilt chrome · 0 B re-uploaded". Steps of the same name are summed, in the order they
    /// first happened.
    static func recoveryText(_ recovery: RecoveryRecord) -> String {
        var order: [String] = []
        var totals: [String: (duration: Double, bytes: Int?)] = [:]
        for step in recovery.steps {
            if totals[step.name] == nil { order.append(step.name) }
            let previous = totals[step.name] ?? (0, nil)
            let bytes: Int? = switch (previous.bytes, step.bytes) {
            case (nil, nil): nil
            case (let a, let b): (a ?? 0) &+ (b ?? 0)
            }
            totals[step.name] = (previous.duration + step.duration, bytes)
        }
        var parts = order.compactMap { name -> String? in
            guard let total = totals[name] else { return nil }
            let bytes = total.bytes.map { ReportFormat.bytes($0) + " " } ?? ""
            return "\(name) \(bytes)\(ReportFormat.milliseconds(total.duration))"
        }
        if !recovery.contextsRebuilt.isEmpty { parts.append("rebuilt " + recovery.contextsRebuilt.joined(separator: ", ")) }
        if !recovery.contextsReconnected.isEmpty {
            parts.append("reconnected " + recovery.contextsReconnected.joined(separator: ", "))
        }
        parts.append("\(ReportFormat.bytes(recovery.bytesUploaded)) re-uploaded")
        if recovery.attempts > 1 { parts.append("\(recovery.attempts) attempts") }
        if recovery.degraded { parts.append("degraded") }
        return "Recovery (\(recovery.strategy)): " + parts.joined(separator: " · ")
    }

    /// ANSI colour, or none at all.
    struct Style {
        let color: Bool
        private static let green = "\u{1B}[32m", red = "\u{1B}[31m", reset = "\u{1B}[0m"

        func mark(_ success: Bool) -> String { paint(success ? "✅" : "❌", success) }
        func verdict(_ success: Bool) -> String { paint(success ? "✅ SUCCESS" : "❌ FAILURE", success) }

        private func paint(_ text: String, _ success: Bool) -> String {
            color ? (success ? Self.green : Self.red) + text + Self.reset : text
        }
    }
}
