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

    // Test that a real Prometheus scrapes a soak live, and reads the soak's final textfile as its report says.
    @Test func aRealPrometheusScrapesALiveSoakAndItsTextfile() throws {
        try #require(PrometheusStack.available, "prometheus, promtool or prometheus-node-exporter missing: run ci/install-prometheus")
        let port = PrometheusStack.freePort()
        let stack = try PrometheusStack(live: "127.0.0.1:\(port)")
        defer { stack.stop() }
        let dir = stack.directory + "/reports", textfile = stack.textfiles + "/soak.prom"
        // Long enough never to end on its own: the test ends it once Prometheus has scraped it live.
        let soak = try HostileEnvironmentCLITests.Background(
            ["soak"] + HostileEnvironmentCLITests.small + ["--duration", "600s", "--clients", "2", "--fault-interval", "1s",
                                                           "--metrics-listen", "\(port)", "--prometheus-textfile", textfile, "--output-dir", dir],
            errFile: stack.directory + "/soak.stderr")
        defer { soak.end() }
        let live = try stack.awaitSamples("poolfault_soak_requests_total{job=\"poolfault-live\",outcome=\"served\"} > 0")
        #expect(!live.isEmpty, "Prometheus never scraped served requests from the live soak: \(soak.stderr)\n\(stack.logs)")
        let liveCheck = try CLIRunner.run(shell: "curl -sS --max-time 10 http://127.0.0.1:\(port)/metrics | promtool check metrics")
        #expect(liveCheck.status == 0, "promtool check metrics on the live endpoint: \(liveCheck.stdout) \(liveCheck.stderr)")
        kill(soak.pid, SIGTERM)
        soak.process.waitUntilExit()
        #expect(soak.process.terminationStatus == 143, "\(soak.stderr)")
        #expect(soak.stderr.contains("Prometheus metrics written to \(textfile)"), "\(soak.stderr)")
        let check = try CLIRunner.run(shell: "promtool check metrics < '\(textfile)'")
        #expect(check.status == 0, "promtool check metrics: \(check.stdout) \(check.stderr)")

        let report = try SoakCLITests.report(in: dir)
        let requests = try #require(report["requests"] as? Int)
        let total = try stack.awaitSamples("sum(poolfault_soak_requests_total{job=\"poolfault-node\"})").first?.value
        #expect(total == Double(requests), "Prometheus counts \(String(describing: total)) requests, the report \(requests)")
        for (outcome, key) in [("lost", "requests_lost"), ("wrong", "requests_wrong")] {
            let value = try stack.query("poolfault_soak_requests_total{job=\"poolfault-node\",outcome=\"\(outcome)\"}").first?.value
            #expect(value == (report[key] as? Int).map(Double.init), "\(outcome): \(String(describing: value)) vs \(report[key] ?? "none")")
        }
        let faults = (report["faults"] as? [[String: Any]])?.count ?? -1
        let scrapedFaults = try stack.query("sum(poolfault_soak_faults_total{job=\"poolfault-node\"})").first?.value ?? 0
        #expect(scrapedFaults == Double(faults), "faults: Prometheus \(scrapedFaults), report \(faults)")
        // What was served live never exceeds what the soak served in all.
        let liveMax = try stack.query("max_over_time(poolfault_soak_requests_total{job=\"poolfault-live\",outcome=\"served\"}[10m])").first?.value ?? .infinity
        let served = try stack.query("poolfault_soak_requests_total{job=\"poolfault-node\",outcome=\"served\"}").first?.value ?? -1
        #expect(liveMax <= served, "live \(liveMax) > final \(served)")

        // With a run's textfile beside the soak's, every query of the Grafana dashboard returns data.
        let run = try CLIRunner.run(RunCLITests.quick + ["--scenario", "browser_crash", "--isolation", "thread", "--output-dir", dir,
                                                         "--prometheus-textfile", stack.textfiles + "/poolfault.prom"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(!(try stack.awaitSamples("poolfault_run_success")).isEmpty, "the run's textfile was never scraped: \(stack.logs)")
        for (panel, expression) in try GrafanaDashboardTests.queries() {
            #expect(!(try stack.awaitSamples(expression, within: 30)).isEmpty, "panel \(panel): \(expression) returns no data")
        }
    }

    // Test that a soak refuses a metrics port in use before any work, and a malformed address as a usage error.
    @Test func aMetricsPortInUseIsRefusedUpFront() throws {
        let port = PrometheusStack.freePort()
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        try #require(bound == 0 && listen(holder, 1) == 0)
        let busy = try CLIRunner.run(["soak"] + HostileEnvironmentCLITests.small + ["--duration", "5s", "--metrics-listen", "127.0.0.1:\(port)",
                                                                                   "--output-dir", RunCLITests.tempDir("busy")])
        #expect(busy.status == 2 && busy.stderr.contains("port is in use"), "\(busy.stderr)")
        #expect(!busy.stderr.contains("soak report written"), "refused before the soak: \(busy.stderr)")
        let malformed = try CLIRunner.run(["soak", "--metrics-listen", "somewhere:99999"])
        #expect(malformed.status == 64 && malformed.stderr.contains("--metrics-listen"), "\(malformed.stderr)")
    }

    // Test that bench recovery's textfile passes promtool and holds its report's samples.
    @Test func benchRecoveryWritesItsSamplesAsAHistogram() throws {
        let dir = RunCLITests.tempDir("bench-prom")
        let textfile = dir + "/bench.prom"
        let r = try CLIRunner.run(["bench", "recovery"] + RunCLITests.quick.filter { $0 != "--color" && $0 != "never" }
                                  + ["--scenario", "browser_crash", "--recovery-strategy", "progressive", "--trials", "2",
                                     "--isolation", "thread", "--json", "--prometheus-textfile", textfile])
        #expect(r.status == 0, "\(r.stderr)")
        let check = try CLIRunner.run(shell: "promtool check metrics < '\(textfile)'")
        #expect(check.status == 0, "promtool check metrics: \(check.stdout) \(check.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let row = try #require((report["recovery"] as? [[String: Any]])?.first)
        let samples = (row["samples_ms"] as? [Double] ?? []).map { $0 / 1000 }
        let text = try String(contentsOfFile: textfile, encoding: .utf8)
        func value(_ name: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix(name + "{") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        #expect(value("poolfault_bench_recovery_seconds_count") == Double(samples.count) && !samples.isEmpty, "\(text)")
        #expect(abs((value("poolfault_bench_recovery_seconds_sum") ?? -1) - samples.reduce(0, +)) < 1e-9, "\(text)")
        #expect(value("poolfault_bench_recovery_failures_total") == (row["failures"] as? Int).map(Double.init))
        #expect(value("poolfault_bench_recovery_success") == 1)
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
