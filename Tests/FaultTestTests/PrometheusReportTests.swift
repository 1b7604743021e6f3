import Foundation
import Testing
@testable import FaultTest

/// The Prometheus exposition of a report: valid by promtool (the Prometheus project's own
/// checker), every sample read from the report, histograms counting what the report holds.
@Suite struct PrometheusReportTests {
    /// The exposition's samples: "name{labels}" → value.
    static func samples(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            out[String(line[..<space])] = value
        }
        return out
    }

    static func promtool(_ text: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/promtool")
        process.arguments = ["check", "metrics"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    // Test that promtool accepts the exposition of a report with a failed scenario and every fault kind of the fixtures.
    @Test func promtoolAcceptsTheExposition() throws {
        #expect(FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool"), "promtool missing: run ci/install-prometheus")
        let text = PrometheusReport.exposition(ReportFixtures.report)
        let (status, output) = try Self.promtool(text)
        #expect(status == 0, "promtool check metrics: \(output)\n\(text)")
    }

    // Test that every sample is the report's own value.
    @Test func everySampleIsTheReportsValue() throws {
        let report = ReportFixtures.report
        let samples = Self.samples(PrometheusReport.exposition(report))
        let base = "model=\"\(report.testInfo.model)\",isolation=\"\(report.testInfo.isolation ?? "thread")\""
        #expect(samples["poolfault_run_success{\(base)}"] == (report.summary.overallSuccess ? 1 : 0))
        var recoveries = 0, injected: [String: Int] = [:]
        for s in report.scenarios {
            let strategy = s.strategy ?? report.testInfo.recoveryStrategy
            let labels = "\(base),scenario=\"\(s.scenario)\",strategy=\"\(strategy)\""
            #expect(samples["poolfault_scenario_success{\(labels)}"] == (s.overallSuccess ? 1 : 0), "\(s.scenario)")
            for phase in s.phases {
                #expect(samples["poolfault_scenario_phase_seconds{\(labels),phase=\"\(phase.name.rawValue)\"}"] == phase.result.duration,
                        "\(s.scenario) \(phase.name.rawValue)")
            }
            if let r = s.recovery, r.success { recoveries += 1 }
            if let kind = s.fault?.kind.rawValue { injected[kind, default: 0] += 1 }
        }
        let strategy = report.testInfo.recoveryStrategy
        #expect(samples["poolfault_recovery_seconds_count{\(base),strategy=\"\(strategy)\"}"] == Double(recoveries))
        let sum = report.scenarios.compactMap { $0.recovery }.filter(\.success).reduce(0) { $0 + $1.duration }
        #expect(abs((samples["poolfault_recovery_seconds_sum{\(base),strategy=\"\(strategy)\"}"] ?? -1) - sum) < 1e-9)
        for (kind, count) in injected {
            #expect(samples["poolfault_faults_injected_total{\(base),kind=\"\(kind)\"}"] == Double(count), "\(kind)")
        }
        #expect(samples["poolfault_software_vulkan{\(base)}"] == (report.testInfo.devices.contains(where: \.software) ? 1 : 0))
    }
}
