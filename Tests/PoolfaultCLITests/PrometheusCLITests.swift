import Foundation
import Testing

/// poolfault's results where operators look: a run writes `--prometheus-textfile` into
/// node_exporter's textfile directory, a real Prometheus scrapes node_exporter, and what its HTTP
/// API answers is the JSON report's own values; the recovery quantile Prometheus computes from the
/// buckets lies in the bucket holding the report's recovery time.
@Suite(.serialized) struct PrometheusCLITests {
    // Test that a real Prometheus, through node_exporter, reads back the run's verdicts, phases and recovery latency.
    @Test func aRealPrometheusReadsTheRunAsTheReportSaysIt() throws {
        try #require(PrometheusStack.available, "prometheus, promtool or prometheus-node-exporter missing: run ci/install-prometheus")
        let stack = try PrometheusStack()
        defer { stack.stop() }
        let textfile = stack.textfiles + "/poolfault.prom"
        let r = try CLIRunner.run(RunCLITests.quick + ["--scenario", "browser_crash", "--isolation", "thread",
                                                       "--output-dir", stack.directory + "/reports", "--json",
                                                       "--prometheus-textfile", textfile])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("Prometheus metrics to \(textfile)"), "\(r.stderr)")
        let check = try CLIRunner.run(shell: "promtool check metrics < '\(textfile)'")
        #expect(check.status == 0, "promtool check metrics: \(check.stdout) \(check.stderr)")

        // JSONDecoder, not JSONSerialization: the latter's NSNumber can come back a few ulps off.
        let report = try JSONDecoder().decode(RunReportFields.self, from: Data(r.stdout.utf8))
        let scenario = try #require(report.scenarios["browser_crash"])
        let success = scenario.overall_success
        let verdicts = try stack.awaitSamples("poolfault_scenario_success")
        #expect(verdicts.count == 1 && verdicts.first?.labels["scenario"] == "browser_crash"
                && verdicts.first?.value == (success ? 1 : 0), "Prometheus has \(verdicts); logs:\n\(stack.logs)")
        #expect(try stack.query("poolfault_run_success").first?.value == (success ? 1 : 0))

        // Every phase's time, as the report has it.
        let scraped = try stack.query("poolfault_scenario_phase_seconds")
        #expect(scraped.count == scenario.phases.count, "\(scraped.map(\.labels))")
        for sample in scraped {
            let phase = try #require(sample.labels["phase"])
            #expect(sample.value == scenario.phases[phase]?.duration, "\(phase): Prometheus \(sample.value), report \(String(describing: scenario.phases[phase]))")
        }
        #expect(try stack.query("poolfault_faults_injected_total{kind=\"browser_crash\"}").first?.value == 1)

        // The recovery quantile Prometheus computes lies in the bucket holding the report's recovery time.
        let recovery = try #require(scenario.recovery?.duration)
        let quantile = try #require(try stack.query("histogram_quantile(0.5, sum by (le) (poolfault_recovery_seconds_bucket))").first?.value)
        let bounds = [0.0] + PrometheusStack.latencyBuckets
        let upper = try #require(bounds.firstIndex { $0 >= recovery })
        #expect(quantile >= bounds[upper - 1] && quantile <= bounds[upper],
                "Prometheus p50 \(quantile) s outside the bucket (\(bounds[upper - 1]), \(bounds[upper])] of the report's \(recovery) s")
        let count = try stack.query("poolfault_recovery_seconds_count").first?.value
        let sum = try stack.query("poolfault_recovery_seconds_sum").first?.value
        #expect(count == 1 && sum == recovery, "count \(String(describing: count)), sum \(String(describing: sum)) vs the report's \(recovery)")

        let pids = stack.pids
        stack.stop()
        for pid in pids { #expect(kill(pid, 0) != 0, "daemon \(pid) still runs after stop") }
    }

    // Test that an unwritable textfile path is refused before any work, naming the path.
    @Test func anUnwritableTextfileIsRefusedUpFront() throws {
        let r = try CLIRunner.run(RunCLITests.quick + ["--scenario", "browser_crash", "--output-dir", RunCLITests.tempDir("prom"),
                                                       "--prometheus-textfile", "/proc/poolfault/metrics.prom"])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("/proc/poolfault"), "\(r.stderr)")
    }
}

/// The fields of the JSON report these tests compare.
struct RunReportFields: Decodable {
    struct Timed: Decodable { let duration: Double }
    struct Scenario: Decodable {
        let overall_success: Bool
        let phases: [String: Timed]
        let recovery: Timed?
    }
    let scenarios: [String: Scenario]
}

extension PrometheusStack {
    /// PrometheusReport's buckets, as the tests read them.
    static let latencyBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
}
