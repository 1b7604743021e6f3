import ArgumentParser
import FaultTest
import Foundation
import ResourcePool
import Transformer
import VulkanCompute

/// `poolfault soak`: faults under sustained load, judged against service-level objectives.
struct SoakCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "Faults under sustained load: every request checked, availability and latency per window, an SLO verdict.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var deviceOptions: DeviceOptions
    @OptionGroup var poolOptions: PoolOptions

    @Option(help: "How long to run: 60s, 2m, 500ms, or seconds (1 s to 24 h).")
    var duration = "60s"

    @Option(help: "Client threads sending requests without pause (1–256).")
    var clients = 8

    @Option(help: "Mean time between planned faults (each drawn ±25% with --seed): 5s, 500ms, …")
    var faultInterval = "5s"

    @Option(help: "Fault kinds to draw from, comma-separated (default: the original four the pool can host; add gpu_hang or browser_freeze to hold requests for the watchdog).")
    var faults: String?

    @Option(help: "Recovery strategy after each fault.")
    var recoveryStrategy: RecoveryStrategyKind = .progressive

    @Option(help: "Directory for the soak report (soak_<timestamp>.json).")
    var outputDir = "./fault_tolerance_basic_test_results"

    @Option(parsing: .unconditional, help: "SLO: the least share of requests served without the CPU fallback (0–1).")
    var sloAvailability = 0.99

    /// Default 10: a failover re-uploads a shard and compiles its first dispatch, so on lavapipe
    /// p99 during faults runs at ~3.5× p99 before them (reduced bert, 4 clients); 10 catches a
    /// stall, not the honest cost of recovering.
    @Option(parsing: .unconditional, help: "SLO: the most p99 latency during faults may be, as a multiple of p99 before them (above 0; default 10).")
    var sloP99Ratio = 10.0

    @Option(help: "Serve the soak's metrics live at http://HOST:PORT/metrics for Prometheus while it runs (PORT alone: 127.0.0.1). A port in use is refused before the soak starts.")
    var metricsListen: String?

    @Option(help: "Also write the soak's metrics to this file at its end, atomically (for node_exporter's textfile collector: name it *.prom in its directory).")
    var prometheusTextfile: String?

    @Flag(help: "Print the soak report as JSON on stdout.")
    var json = false

    @Option(help: "Which requests the pool checks against the CPU reference, shard by shard: every (default), sample:N (every Nth) or off. With less than every, wrong answers a corruption causes can reach clients: the report counts them.")
    var verify = "every"

    @Option(help: "How often every context's weights are scrubbed against the source, and once more at the end (off: never, but once at the end while an injected corruption is still uncaught): 10s, 500ms, … (needs --scrub on).")
    var scrubInterval = "10s"

    @Option(parsing: .unconditional, help: "Stop after this many requests instead of --duration (1–10000000): a run whose length does not depend on the machine's speed.")
    var requests: Int?

    @Option(parsing: .unconditional, help: "Stop after this many planned faults instead of --duration (1–100000); with --requests too, once both are reached.")
    var faultCount: Int?

    var durationValue: Duration? { Self.parseSoakLength(duration) }
    /// --verify as the pool's verifyEvery: 1, N, or 0 (nil when it does not parse).
    var verifyEvery: Int? {
        switch verify {
        case "every": return 1
        case "off": return 0
        default:
            guard verify.hasPrefix("sample:"), let n = Int(verify.dropFirst("sample:".count)), (1...1_000_000).contains(n) else { return nil }
            return n
        }
    }
    var scrubIntervalValue: Duration?? { scrubInterval == "off" ? .some(nil) : Self.parseDuration(scrubInterval).map { .some($0) } }
    var intervalValue: Duration? { Self.parseDuration(faultInterval) }

    var faultKinds: [FaultKind]? {
        guard let faults else { return nil }
        return faults.split(separator: ",").map { FaultKind(rawValue: $0.trimmingCharacters(in: .whitespaces)) }.reduce(into: [FaultKind]?([])) {
            if let kind = $1 { $0?.append(kind) } else { $0 = nil }
        }
    }

    func validate() throws {
        guard durationValue != nil else {
            throw ValidationError("--duration must be from 1s to 24h, e.g. 60s, 2m, 90 (got \(duration))")
        }
        guard let i = intervalValue, i >= .milliseconds(100), i <= .seconds(86_400) else {
            throw ValidationError("--fault-interval must be from 100ms to 24h, e.g. 5s (got \(faultInterval))")
        }
        guard (1...256).contains(clients) else { throw ValidationError("--clients must be from 1 to 256 (got \(clients))") }
        guard verifyEvery != nil else { throw ValidationError("--verify takes every, sample:N (N from 1) or off (got \(verify))") }
        guard let interval = scrubIntervalValue, interval.map({ $0 >= .milliseconds(100) && $0 <= .seconds(86_400) }) ?? true else {
            throw ValidationError("--scrub-interval must be off or from 100ms to 24h, e.g. 10s (got \(scrubInterval))")
        }
        if let metricsListen, MetricsEndpoint.parse(metricsListen) == nil {
            throw ValidationError("--metrics-listen takes HOST:PORT or PORT, an IPv4 address and a port from 1 to 65535, e.g. 127.0.0.1:9464 (got \(metricsListen))")
        }
        if let requests, !(1...10_000_000).contains(requests) {
            throw ValidationError("--requests must be from 1 to 10000000 (got \(requests))")
        }
        if let faultCount, !(1...100_000).contains(faultCount) {
            throw ValidationError("--fault-count must be from 1 to 100000 (got \(faultCount))")
        }
        guard sloAvailability.isFinite, (0...1).contains(sloAvailability) else {
            throw ValidationError("--slo-availability must be from 0 to 1, e.g. 0.99 (got \(sloAvailability))")
        }
        guard sloP99Ratio.isFinite, sloP99Ratio > 0, sloP99Ratio <= 1_000_000 else {
            throw ValidationError("--slo-p99-ratio must be above 0 (up to 1000000), e.g. 3 (got \(sloP99Ratio))")
        }
        if let faults, (faultKinds ?? []).isEmpty {
            throw ValidationError("--faults takes \(FaultKind.allCases.map(\.rawValue).joined(separator: ", ")), comma-separated (got \(faults))")
        }
        let pool = poolConfiguration
        if kinds.contains(.cascadingFailure) { try poolOptions.validateCascade(strategies: [recoveryStrategy]) }
        if faultCount != nil, kinds.isEmpty {
            throw ValidationError("--fault-count needs a fault this pool can host: name one with --faults, or add browsers with --browsers")
        }
        for kind in faultKinds ?? [] where pool.refusal(toHost: kind, target: .drawn) != nil {
            throw ValidationError("--faults \(kind.rawValue): \(pool.refusal(toHost: kind, target: .drawn)!)")
        }
    }

    /// How long a soak may run (`--duration`, and `run --level long --soak-duration`): a
    /// duration from 1 s to 24 h, else nil.
    static func parseSoakLength(_ text: String) -> Duration? {
        parseDuration(text).flatMap { $0 >= .seconds(1) && $0 <= .seconds(86_400) ? $0 : nil }
    }

    /// "60s", "2m", "500ms", "1h" or plain seconds.
    static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let v = Double(text.dropLast(suffix.count)), v.isFinite, v >= 0 else { return nil }
            return .milliseconds(Int64((v * scale * 1000).rounded()))
        }
        guard let v = Double(text), v.isFinite, v >= 0 else { return nil }
        return .milliseconds(Int64((v * 1000).rounded()))
    }

    var poolConfiguration: PoolConfiguration {
        var pool = PoolConfiguration()
        pool.browsers = poolOptions.browserList
        pool.seed = model.seed
        poolOptions.apply(to: &pool)
        pool.verifyEvery = verifyEvery ?? 1
        return pool
    }

    /// The kinds drawn: those asked for, else the original four this pool can host (a hang holds
    /// requests for the whole watchdog, which a latency SLO would then have to allow for).
    var kinds: [FaultKind] {
        faultKinds ?? FaultKind.original.filter { poolConfiguration.refusal(toHost: $0, target: .drawn) == nil }
    }

    func run() throws {
        var status: Int32 = 0
        try reportingErrors {
            let outputURL = URL(fileURLWithPath: outputDir)
            try RunCommand.ensureWritable(outputURL)
            for file in [poolOptions.trace, prometheusTextfile].compactMap({ $0 }) { try ReportFiles.checkWritable(file: URL(fileURLWithPath: file)) }
            // Bound first, so a port in use is refused before any work; it serves once the soak runs.
            let source = SoakSource()
            let endpoint = try metricsListen.map { try MetricsEndpoint(listen: $0, render: source.render) }
            defer { endpoint?.stop() }
            if let note = try Pool.checkEnvironment(for: poolConfiguration) { printError("poolfault: \(note)") }
            let (config, weights) = try model.load()
            let (instance, physical) = try deviceOptions.open(logger: Logs.logger("soak"))
            let environment = try makePoolEnvironment(instance: instance, selection: deviceOptions.selection, config: config,
                                                      weights: weights, isolation: poolOptions.isolation)
            var pool = poolConfiguration
            if let spread = try poolOptions.spread(among: try instance.physicalDevices().map(\.info)) {
                pool.browsers = spread.browsers
                pool.browserDevices = spread.devices
            }
            let plan = SoakPlan(duration: durationValue!, clients: clients, faultInterval: intervalValue!, faults: kinds,
                                strategy: recoveryStrategy, seed: model.seed, requests: requests, faultCount: faultCount,
                                scrubInterval: poolOptions.scrub == .on ? (scrubIntervalValue ?? nil) : nil)
            let live = SoakProgressLine()
            let runner = SoakRunner(environment: environment, configuration: pool, plan: plan)
            let (modelName, isolation) = (config.name, poolOptions.isolation.rawValue)
            source.set { SoakMetrics.exposition(runner.snapshot(), plan: plan, model: modelName, isolation: isolation) }
            if let endpoint { printError("poolfault: serving the soak's metrics at http://\(endpoint.address):\(endpoint.port)/metrics") }
            let result = try runner.run { count, faults, recent in
                live.show(requests: count, faults: faults, recent: recent)
            }
            endpoint?.stop()
            live.finish()
            let report = SoakReport(result: result, plan: plan, model: config.name, browsers: pool.browsers, integrity: ScenarioRunner.integrityLabel(pool),
                                    device: "\(physical.info.name) (\(physical.info.driverInfo))", isolation: poolOptions.isolation.rawValue,
                                    sloAvailability: sloAvailability, sloP99Ratio: sloP99Ratio, timestamp: RunCommand.timestamp(),
                                    host: HostIdentity.current(devices: try instance.physicalDevices().map(\.info),
                                                               usedSoftware: physical.info.isSoftware))
            // The verdict first, on stdout: a full disk must not take it down with the file.
            print(json ? try jsonString(report) : report.terminal)
            fflush(nil)
            let url = outputURL.appendingPathComponent("soak_\(report.timestamp).json")
            try ReportFiles.replace(url, with: Data(try jsonString(report).utf8))
            printError("poolfault: soak report written to \(url.path)")
            if let prometheusTextfile {
                try ReportFiles.replace(URL(fileURLWithPath: prometheusTextfile),
                                        with: Data(SoakMetrics.exposition(result, plan: plan, model: config.name, isolation: isolation).utf8))
                printError("poolfault: Prometheus metrics written to \(prometheusTextfile)")
            }
            if let trace = poolOptions.trace {
                let timeline = ScenarioResult(scenario: "soak", description: "soak: \(plan.faults.map(\.rawValue).joined(separator: ", "))",
                                              overallSuccess: report.verdict.pass, phases: [], fault: nil, recovery: nil, numerics: [:],
                                              events: result.log.events, spans: result.log.spans, counters: result.log.counters)
                try ReportFiles.replace(URL(fileURLWithPath: trace),
                                        with: try TraceReport.encode(scenarios: [timeline], browsers: pool.browsers,
                                                                     about: ["tool": "poolfault soak", "model": config.name, "strategy": recoveryStrategy.rawValue]))
                printError("poolfault: trace written to \(trace)")
            }
            try finishValidation(instance)
            status = report.verdict.pass ? 0 : ExitStatus.scenarioFailed
            if report.interrupted != nil, let code = Interruption.exitStatus { status = code }
        }
        if status != 0 { throw ExitCode(status) }
    }
}

/// The live progress line: on a terminal only (nothing of it reaches a log or a pipe).
final class SoakProgressLine: @unchecked Sendable {
    private let enabled = isatty(STDERR_FILENO) == 1
    private var last = (count: 0, at: ContinuousClock.now)

    func show(requests: Int, faults: Int, recent: [SoakRequest]) {
        guard enabled else { return }
        let now = ContinuousClock.now
        let rate = Double(requests - last.count) / max((now - last.at).seconds, 0.001)
        last = (requests, now)
        let sorted = recent.map(\.seconds).sorted()
        let p99 = sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))] * 1000
        FileHandle.standardError.write(Data(String(format: "\r\u{1B}[2K%.1f requests/s · %d requests · %d faults · p99 now %.0f ms", rate, requests, faults, p99).utf8))
    }

    func finish() { if enabled { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) } }
}

/// What the metrics endpoint serves: nothing until the soak's runner exists, then its snapshot.
final class SoakSource: @unchecked Sendable {  // `make` under `lock`
    private let lock = NSLock()
    private var make: (@Sendable () -> String)?

    func set(_ make: @escaping @Sendable () -> String) { lock.withLock { self.make = make } }

    var render: @Sendable () -> String { { [self] in lock.withLock { make }?() ?? "" } }
}
