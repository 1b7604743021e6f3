import ArgumentParser
import FaultTest
import Foundation
import ResourcePool
import Transformer
import VulkanCompute

/// `poolfault bench recovery`: real recovery latency per scenario × strategy, as percentiles
/// (HdrHistogram), with the cold initialize of the same pool as the control, beside the figures
/// the original tool's documentation claimed without any code behind them.
struct BenchRecoveryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recovery",
        abstract: "Recovery latency percentiles per scenario and strategy, against a cold-initialize control.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var deviceOptions: DeviceOptions
    @OptionGroup var poolOptions: PoolOptions

    @Option(help: "Trials per scenario × strategy (each on a fresh pool).")
    var trials = 3

    @Option(help: "Only this scenario (default: the original four, and gpu_hang and browser_freeze in process isolation; all: the same).")
    var scenario: ScenarioChoice?

    @Option(help: "Only this strategy (default: all three).")
    var recoveryStrategy: RecoveryStrategyKind?

    @Option(help: "Also write an HTML page of the latency distributions (CDF with p50/p95/p99, beside the cold-initialize control).")
    var html: String?

    @Flag(help: "Print the report (rows, control, host, histograms) as JSON on stdout.")
    var json = false

    @Option(help: "Also write the report as bench_recovery_<timestamp>.json into this directory (what `poolfault report merge` reads).")
    var outputDir: String?

    @Option(help: "Also write the results as Prometheus metrics to this file, atomically (for node_exporter's textfile collector: name it *.prom in its directory).")
    var prometheusTextfile: String?

    /// What the original tool's documentation claimed (ms), with no measurement behind it.
    static let claimed: [String: [String: Double]] = [
        "connection_lost": ["simple": 350, "progressive": 280, "coordinated": 320],
        "browser_crash": ["simple": 850, "progressive": 480, "coordinated": 520],
    ]

    struct Row: Encodable {
        let scenario, strategy: String
        /// "process" or "thread".
        let isolation: String
        /// Fault → the pool noticed, p50 (ms).
        let detectionP50Ms: Double
        /// gpu_hang: the hung request's wait until the watchdog killed the process, p50 (ms).
        let watchdogP50Ms: Double?
        let p50Ms, p95Ms, p99Ms, maxMs: Double
        let steps: [String: Double]
        let inference: [String: Double]
        let claimedMs: Double?
        let failures: Int
        let trials: Int
        let bytesUploadedP50: Double
        /// Every successful recovery's latency in ms, for the distribution plot.
        let samplesMs: [Double]
    }

    /// Both isolations unless one was asked for: process first (the default), thread as its baseline.
    var isolations: [PoolConfiguration.Isolation] { poolOptions.isolationChoice.map { [$0] } ?? [.process, .thread] }

    func scenarios(for isolation: PoolConfiguration.Isolation) -> [FaultKind] {
        switch scenario {
        case .one(let kind)? where kind.needsProcess && isolation == .thread && poolOptions.isolationChoice == nil:
            return []  // compared in process isolation only; asking for thread is refused below
        case .one(let kind)?: return [kind]
        case .all?: return FaultKind.allCases.filter { isolation == .process || !$0.needsProcess }
        // silent_corruption is measured by `bench corruption` (detection is its question, not recovery).
        case nil: return FaultKind.allCases.filter { (isolation == .process || !$0.needsProcess) && $0 != .silentCorruption }
        }
    }

    func run() throws {
        try reportingErrors {
            guard trials >= 1 else { throw ValidationError("--trials must be at least 1") }
            var pool = PoolConfiguration()
            pool.browsers = poolOptions.browserList
            pool.seed = model.seed
            poolOptions.apply(to: &pool)
            for isolation in isolations {
                pool.isolation = isolation
                for kind in scenarios(for: isolation) {
                    if let why = pool.refusal(toHost: kind, target: .drawn) { throw ValidationError("cannot run \(kind.rawValue): \(why)") }
                }
            }
            if isolations.contains(where: { scenarios(for: $0).contains(.cascadingFailure) }) {
                try poolOptions.validateCascade(strategies: recoveryStrategy.map { [$0] } ?? RecoveryStrategyKind.allCases)
            }
            for file in [html, poolOptions.trace].compactMap({ $0 }) { try ReportFiles.checkWritable(file: URL(fileURLWithPath: file)) }
            if let outputDir { try RunCommand.ensureWritable(URL(fileURLWithPath: outputDir)) }
            if let prometheusTextfile { try ReportFiles.checkWritable(file: URL(fileURLWithPath: prometheusTextfile)) }
            if isolations.contains(.process) {
                var process = pool
                process.isolation = .process
                if let note = try Pool.checkEnvironment(for: process) { printError("poolfault: \(note)") }
            }
            let origin = ContinuousClock.now
            var traced: [ScenarioResult] = []
            let (config, weights) = try model.load()
            let (instance, physical) = try deviceOptions.open(logger: Logs.logger("bench"))
            // One environment for both isolations: the weights in shared memory serve both.
            let environment = try makePoolEnvironment(instance: instance, selection: deviceOptions.selection, config: config,
                                                      weights: weights, isolation: isolations.contains(.process) ? .process : .thread)
            // --devices: the same spread as `run`.
            if let spread = try poolOptions.spread(among: try instance.physicalDevices().map(\.info)) {
                if let note = spread.note { printError("poolfault: \(note)") }
                pool.browsers = spread.browsers
                pool.browserDevices = spread.devices
            }
            let input = ModelInput.seeded(config: config, seed: model.seed)
            let reference = try ReferenceTrace(input: input, plan: Pool.plan(for: pool, config: config), cpu: environment.cpu)
            let strategies = recoveryStrategy.map { [$0] } ?? RecoveryStrategyKind.allCases
            let progress = Progress(total: isolations.reduce(0) { $0 + scenarios(for: $1).count } * strategies.count * trials)
            var initialize: [String: Samples] = [:]
            var rows: [Row] = []
            var histograms: [ReportHistogram] = []
            var stopped: String?
            modes: for isolation in isolations {
                var modeConfig = pool
                modeConfig.isolation = isolation
                for kind in scenarios(for: isolation) {
                    for strategy in strategies {
                        if let why = RunStop.requested { stopped = why; break modes }
                        var recovery = Samples(), detection = Samples(), watchdog = Samples()
                        var bytes: [Int] = []
                        var steps: [String: Samples] = [:], inference: [String: Samples] = [:]
                        var failures = 0
                        trials: for trial in 0..<trials {
                            if let why = RunStop.requested { stopped = why; break trials }
                            progress.step("\(isolation.rawValue): \(kind.rawValue)/\(strategy.rawValue) \(trial + 1)/\(trials)")
                            do {
                            var trialConfig = modeConfig
                            trialConfig.seed = model.seed &+ UInt64(trial)
                            let p = try Pool(configuration: trialConfig, environment: environment, origin: origin)
                            defer { p.shutdown() }
                            initialize[isolation.rawValue, default: Samples()].add(try time { _ = try p.initialize() })
                            inference["before", default: Samples()].add(try p.infer(input, reference: reference).seconds)
                            let fault = try FaultInjector.inject(kind, into: p)
                            FaultInjector.keepCrashing(fault, in: p, times: poolOptions.keepCrashing)
                            inference["during", default: Samples()].add(try p.infer(input, reference: reference).seconds)
                            let r = p.recover(using: strategy)
                            let observed = FaultInjector.observed(fault, in: p)
                            if let seconds = observed.detectionSeconds { detection.add(seconds) }
                            if let seconds = observed.watchdogSeconds { watchdog.add(seconds) }
                            // A failed recovery has no recovery latency, nor step times: it is
                            // counted, never timed (as in the run report's histograms).
                            if r.success {
                                recovery.add(r.duration)
                                for (name, group) in Dictionary(grouping: r.steps, by: \.name) {
                                    steps[name, default: Samples()].add(group.reduce(0) { $0 + $1.duration })
                                }
                            } else {
                                failures += 1
                            }
                            bytes.append(r.bytesUploaded)
                            inference["after", default: Samples()].add(try p.infer(input, reference: reference).seconds)
                            if poolOptions.trace != nil {
                                traced.append(ScenarioResult(scenario: "\(kind.rawValue)/\(strategy.rawValue)/\(isolation.rawValue)",
                                                             description: "trial \(trial + 1)", overallSuccess: r.success, phases: [],
                                                             fault: nil, recovery: r, numerics: [:], events: p.events.events,
                                                             spans: p.events.spans, counters: p.events.counters))
                            }
                            } catch where RunStop.requested != nil {
                                stopped = RunStop.requested  // the signal killed this trial's browsers: it is not a result
                                break trials
                            }
                        }
                        guard !bytes.isEmpty else { break modes }
                        rows.append(Row(scenario: kind.rawValue, strategy: strategy.rawValue, isolation: isolation.rawValue,
                                        detectionP50Ms: detection.ms(50), watchdogP50Ms: kind.needsProcess ? watchdog.ms(50) : nil, p50Ms: recovery.ms(50),
                                        p95Ms: recovery.ms(95), p99Ms: recovery.ms(99), maxMs: recovery.ms(100),
                                        steps: steps.mapValues { $0.ms(50) }, inference: inference.mapValues { $0.ms(50) },
                                        claimedMs: Self.claimed[kind.rawValue]?[strategy.rawValue], failures: failures, trials: trials,
                                        bytesUploadedP50: Double(bytes.sorted()[bytes.count / 2]), samplesMs: recovery.values.map { $0 * 1000 }))
                        // The report's histograms are these same samples' (what `report merge` adds).
                        func key(_ metric: String, _ step: String? = nil) -> HistogramKey {
                            HistogramKey(metric: metric, scenario: kind.rawValue, strategy: strategy.rawValue, isolation: isolation.rawValue, step: step)
                        }
                        histograms += [detection.report(key("detection")), recovery.report(key("recovery"))].compactMap { $0 }
                            + steps.keys.sorted().compactMap { steps[$0]!.report(key("recovery_step", $0)) }
                    }
                }
            }
            progress.finish()
            let device = "\(physical.info.name) (\(physical.info.driverInfo))"
            let controls = initialize.mapValues { $0.ms(50) }
            let watchdogMs = poolOptions.watchdog * 1000
            if let trace = poolOptions.trace {
                try ReportFiles.replace(URL(fileURLWithPath: trace),
                                        with: try TraceReport.encode(scenarios: traced, browsers: pool.browsers,
                                                                     about: ["tool": "poolfault bench recovery", "model": config.name, "device": device]))
            }
            if let html {
                try ReportFiles.replace(URL(fileURLWithPath: html),
                                        with: Data(BenchRecoveryHTML.render(rows: rows, initializeP50: controls,
                                                                            device: device, model: config.name, trials: trials,
                                                                            cache: mesaCacheState()).utf8))
            }
            var control: [String: Double] = [:]
            for (mode, samples) in initialize {
                control["initialize_p50_ms_\(mode)"] = samples.ms(50)
                control["initialize_max_ms_\(mode)"] = samples.ms(100)
            }
            var failed = rows.filter { $0.failures > 0 }.map { "\($0.scenario)/\($0.strategy) (\($0.isolation)): \($0.failures) of \($0.trials) recoveries failed" }
            if let stopped { failed.append("interrupted by \(stopped): \(rows.count) row(s) measured, the rest not") }
            let report = BenchRecoveryReport(timestamp: RunCommand.timestamp(),
                                             host: HostIdentity.current(devices: try instance.physicalDevices().map(\.info),
                                                                        usedSoftware: physical.info.isSoftware),
                                             model: config.name, device: device, trials: trials, mesaShaderCache: mesaCacheState(),
                                             watchdogMs: watchdogMs, recovery: rows, control: control,
                                             histograms: histograms, verdict: .init(pass: failed.isEmpty, reasons: failed), interrupted: stopped)
            if let outputDir {
                let url = URL(fileURLWithPath: outputDir).appendingPathComponent("bench_recovery_\(report.timestamp).json")
                try ReportFiles.replace(url, with: Data(try jsonString(report).utf8))
                printError("poolfault: bench report written to \(url.path)")
            }
            if let prometheusTextfile {
                try ReportFiles.replace(URL(fileURLWithPath: prometheusTextfile), with: Data(BenchRecoveryMetrics.exposition(report).utf8))
                printError("poolfault: Prometheus metrics written to \(prometheusTextfile)")
            }
            if json {
                print(try jsonString(report))
            } else {
                print(BenchRecoveryTable.render(rows: rows, initializeP50: controls, device: device, model: config.name,
                                                trials: trials, cache: mesaCacheState(), watchdogMs: watchdogMs))
            }
            if stopped != nil {
                printError("poolfault: bench recovery interrupted: \(rows.count) row(s) measured and reported")
                throw ExitCode(Interruption.exitStatus ?? 130)
            }
            try finishValidation(instance)
        }
    }
}

/// `bench recovery`'s report: the table's rows and control, with the host and the latency
/// histograms that `poolfault report merge` adds across nodes.
struct BenchRecoveryReport: Encodable {
    struct Verdict: Encodable { let pass: Bool; let reasons: [String] }
    let schemaVersion = ReportVersion.benchRecovery
    let tool = "poolfault bench recovery"
    let timestamp: String
    let host: HostIdentity
    let model: String
    let device: String
    let trials: Int
    let mesaShaderCache: String
    let watchdogMs: Double
    let recovery: [BenchRecoveryCommand.Row]
    let control: [String: Double]
    let histograms: [ReportHistogram]
    /// Pass when every recovery succeeded (and no signal cut the bench short).
    let verdict: Verdict
    /// A signal stopped the bench early: which (its rows are those finished).
    let interrupted: String?
}

/// Durations, in the reports' HdrHistogram (LatencyHistogram: microseconds, rounded), and raw.
struct Samples {
    private(set) var latency = LatencyHistogram()
    /// The raw samples in seconds, for plots.
    private(set) var values: [Double] = []
    mutating func add(_ seconds: Double) {
        latency.record(seconds: seconds)
        values.append(seconds)
    }
    /// As a report carries it; nil when empty.
    func report(_ key: HistogramKey) -> ReportHistogram? {
        count == 0 ? nil : ReportHistogram(metric: key.metric, scenario: key.scenario, strategy: key.strategy, isolation: key.isolation,
                                           step: key.step, buckets: latency.buckets)
    }

    /// The percentile in microseconds (0 when empty).
    func percentile(_ p: Double) -> Double {
        let h = latency.histogram
        return h.totalCount == 0 ? 0 : Double(p >= 100 ? h.max : h.valueAtPercentile(p))
    }
    /// The percentile in milliseconds.
    func ms(_ p: Double) -> Double { percentile(p) / 1000 }
    var count: Int { values.count }
}

/// A one-line progress bar on stderr, only when stderr is a terminal.
final class Progress {
    let total: Int
    private var done = 0
    private let enabled = isatty(STDERR_FILENO) == 1

    init(total: Int) { self.total = total }

    func step(_ label: String) {
        guard enabled else { return }
        let width = 30, filled = total > 0 ? done * width / total : 0
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        FileHandle.standardError.write(Data("\r\u{1B}[2K[\(bar)] \(done)/\(total) \(label)".utf8))
        done += 1
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }
}
