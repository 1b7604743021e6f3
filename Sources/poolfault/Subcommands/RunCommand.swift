import ArgumentParser
import FaultTest
import Foundation
import ResourcePool
import Transformer
import VulkanCompute

extension FaultKind: ExpressibleByArgument {}
extension RecoveryStrategyKind: ExpressibleByArgument {}
extension ShardType: ExpressibleByArgument {}
extension PoolConfiguration.ContextMode: ExpressibleByArgument {}

/// `poolfault run` (the default): the original tool's fault-tolerance test, for real.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run fault scenarios against a resource pool of real Vulkan contexts (the default command).")

    enum ColorMode: String, ExpressibleByArgument, CaseIterable { case auto, always, never }

    @OptionGroup var model: ModelOptions
    @OptionGroup var deviceOptions: DeviceOptions
    @OptionGroup var poolOptions: PoolOptions

    @Option(help: "Scenario to run (default: the original four, in order; all: every scenario, gpu_hang and browser_freeze included).")
    var scenario: ScenarioChoice?

    /// Validation levels, as `dcgmi diag -r 1|2` (README: "Validating a GPU node").
    enum Level: String, ExpressibleByArgument, CaseIterable {
        /// The original four scenarios, one strategy, a reduced model (3 layers, 32 tokens): a
        /// readiness check within 30 s even on a cold shader cache (a Slurm prolog's budget).
        case quick
        /// Every scenario, gpu_hang included, × every strategy, on the full model.
        case medium
        /// medium, then a 60 s soak under load and 100 crash/recover cycles with leak checks
        /// (`--soak-duration`, `--crash-cycles`).
        case long
    }

    @Option(help: "A validation level: quick (the four original scenarios, one strategy, a reduced model: under 30 s), medium (every scenario incl. gpu_hang and browser_freeze × every strategy, full model) or long (medium, a 60 s soak and 100 crash/recover cycles). Chooses the scenarios itself.")
    var level: Level?

    @Option(help: "--level long: how long its soak runs, e.g. 60s, 10m (1s–24h; default 60s).")
    var soakDuration: String?

    @Option(parsing: .unconditional, help: "--level long: how many crash/recover cycles it runs (1–10000; default 100).")
    var crashCycles: Int?

    @Option(help: "Recovery strategy.")
    var recoveryStrategy: RecoveryStrategyKind = .progressive

    @Option(help: "Directory for the JSON report (created with parents).")
    var outputDir = "./fault_tolerance_basic_test_results"

    @Option(help: "Browsers whose context is WebNN, the CPU path (comma-separated), e.g. --webnn edge.")
    var webnn: String?

    @Option(help: "How components are grouped into shards.")
    var shardType: ShardType = .layer

    @Option(help: "device: a VkDevice per context; queue: contexts share a device, a queue each (where the GPU has enough queues).")
    var contextMode: PoolConfiguration.ContextMode = .device

    @Option(parsing: .unconditional, help: "The context a fault hits: a name or an index (default: drawn with --seed).")
    var faultTarget: String?

    @Option(help: "Also write a JUnit XML report to this file.")
    var junit: String?

    @Option(help: "Also write the results as Prometheus metrics to this file, atomically (for node_exporter's textfile collector: name it *.prom in its directory).")
    var prometheusTextfile: String?

    @Option(help: "Write the HTML report to this file (default: results_<timestamp>.html beside the JSON report).")
    var html: String?

    @Flag(help: "Do not write the HTML report.")
    var noHtml = false

    @Flag(help: "Print the JSON report on stdout instead of the terminal layout.")
    var json = false

    @Option(help: "Colour on the terminal: auto (a TTY without NO_COLOR), always, never.")
    var color: ColorMode = .auto

    @Option(parsing: .unconditional, help: "Run the scenarios this many times (1...\(RunCommand.maxRepeat)).")
    var `repeat` = 1

    /// Every repeat keeps its results (phases, events) for the report, so the count is bounded.
    static let maxRepeat = 1000

    var soakDurationValue: Duration? { soakDuration.map(SoakCommand.parseSoakLength) ?? .seconds(60) }

    func validate() throws {
        if level != nil, scenario != nil {
            throw ValidationError("--level chooses the scenarios itself: drop --scenario (quick: the original four; medium: every scenario × every strategy)")
        }
        if level != .long, soakDuration != nil || crashCycles != nil {
            throw ValidationError("--soak-duration and --crash-cycles shape --level long's checks: add --level long, or drop them")
        }
        if let soakDuration, soakDurationValue == nil {
            throw ValidationError("--soak-duration must be from 1s to 24h, e.g. 60s, 10m (got \(soakDuration))")
        }
        if let crashCycles, !(1...10_000).contains(crashCycles) {
            throw ValidationError("--crash-cycles must be from 1 to 10000 (got \(crashCycles))")
        }
        if (level == .medium || level == .long) && poolOptions.isolation == .thread {
            throw ValidationError("--level \(level!.rawValue) runs gpu_hang and browser_freeze, which need --isolation process")
        }
        guard (1...Self.maxRepeat).contains(`repeat`) else {
            throw ValidationError("--repeat must be from 1 to \(Self.maxRepeat) (got \(`repeat`)): each repeat's results are kept for the report")
        }
        if let name = model.model, model.weights == nil {
            do { _ = try ModelConfig.named(name) } catch { throw ValidationError("\(error)") }
        }
        let unknown = webnnSet.subtracting(browserList)
        guard unknown.isEmpty else {
            throw ValidationError("--webnn names \(unknown.sorted().joined(separator: ", ")), not in --browsers \(poolOptions.browsers)")
        }
        if scenarios.contains(.cascadingFailure) { try poolOptions.validateCascade(strategies: strategies) }
        for kind in scenarios {
            if let why = poolConfiguration.refusal(toHost: kind, target: target) {
                throw ValidationError("cannot run \(kind.rawValue): \(why)")
            }
        }
    }

    var scenarios: [FaultKind] {
        switch level {
        case .quick?: return FaultKind.original
        case .medium?, .long?: return FaultKind.allCases
        case nil: return ScenarioChoice.scenarios(scenario, isolation: poolOptions.isolation)
        }
    }

    /// The strategies to run each scenario with: all three for medium, else the one asked for.
    var strategies: [RecoveryStrategyKind] { level == .medium || level == .long ? RecoveryStrategyKind.allCases : [recoveryStrategy] }

    /// The model options with the level's reduction (quick: 3 layers, 32 tokens, unless set).
    var modelForLevel: ModelOptions {
        var m = model
        if level == .quick {
            if m.layers == nil { m.layers = 3 }
            if m.seqLen == nil, m.weights == nil, (m.model ?? "bert-base-uncased").hasPrefix("bert") { m.seqLen = 32 }
        }
        return m
    }
    var target: FaultTarget { faultTarget.map { Int($0).map(FaultTarget.index) ?? .named($0) } ?? .drawn }

    /// The pool as the flags describe it (the context mode is settled against the device in `run`).
    var poolConfiguration: PoolConfiguration {
        var pool = PoolConfiguration()
        pool.browsers = browserList
        pool.webnnBrowsers = webnnSet
        pool.shardType = shardType
        pool.seed = model.seed
        pool.contextMode = .device
        poolOptions.apply(to: &pool)
        return pool
    }

    var browserList: [String] { poolOptions.browserList }
    var webnnSet: Set<String> { Set((webnn ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) }

    func run() throws {
        var status: Int32 = 0
        try reportingErrors {
            let outputURL = URL(fileURLWithPath: outputDir)
            try Self.ensureWritable(outputURL)
            if let note = try Pool.checkEnvironment(for: poolConfiguration) { printError("poolfault: \(note)") }
            for file in [junit, prometheusTextfile, poolOptions.trace, noHtml ? nil : html].compactMap({ $0 }) {
                try ReportFiles.checkWritable(file: URL(fileURLWithPath: file))
            }
            let (config, weights) = try modelForLevel.load()
            try checkShardCount(config, browsers: browserList)
            let logger = Logs.logger("run")
            let (instance, physical) = try deviceOptions.open(logger: logger)
            // --devices: where each browser runs (and, with --browsers-per-device, which browsers).
            let spread = try poolOptions.spread(among: try instance.physicalDevices().map(\.info))
            let browsers = spread?.browsers ?? browserList
            if let note = spread?.note { printError("poolfault: \(note)") }
            if spread != nil {
                try checkShardCount(config, browsers: browsers)
                var spreadPool = poolConfiguration
                spreadPool.browsers = browsers
                for kind in scenarios {
                    if let why = spreadPool.refusal(toHost: kind, target: target) { throw ValidationError("cannot run \(kind.rawValue): \(why)") }
                }
            }
            let environment = try makePoolEnvironment(instance: instance, selection: deviceOptions.selection, config: config,
                                                      weights: weights, isolation: poolOptions.isolation)
            if scenario == .all && poolOptions.isolation == .thread {
                printError("poolfault: --scenario all: gpu_hang and browser_freeze left out (they need --isolation process: a hung queue or a stopped process is reclaimed by killing the process)")
            }
            var pool = poolConfiguration
            pool.browsers = browsers
            pool.browserDevices = spread?.devices ?? [:]
            var contextModeLabel = "device"
            if contextMode == .queue {
                let queues = physical.info.computeFamily?.count ?? 1
                let gpuContexts = browsers.filter { !webnnSet.contains($0) }.count
                if queues >= gpuContexts {
                    pool.contextMode = .queue
                    contextModeLabel = "queue (\(gpuContexts) queues of one \(physical.info.name) device)"
                } else {
                    contextModeLabel = "device (queue requested; \(physical.info.name) offers \(queues) compute queue\(queues == 1 ? "" : "s") for \(gpuContexts) contexts)"
                    printError("poolfault: --context-mode queue: \(physical.info.name) offers \(queues) compute queue\(queues == 1 ? "" : "s") for \(gpuContexts) contexts: using a VkDevice per context")
                }
            }
            let runners = try strategies.map {
                try ScenarioRunner(environment: environment, configuration: pool, strategy: $0,
                                   faultTarget: target, keepCrashing: poolOptions.keepCrashing)
            }
            var results: [ScenarioResult] = []
            var devices: [DeviceSummary] = []
            var interrupted: String?
            let planned = `repeat` * scenarios.count * runners.count
            runs: for _ in 0..<`repeat` {
                for runner in runners {
                    for kind in scenarios {
                        var (result, used) = runner.run(kind)
                        if runners.count > 1 { result.strategy = runner.strategy.rawValue }
                        if Interruption.signal != nil {
                            // The scenario the signal cut short is not a result: its browsers were killed.
                            interrupted = "\(Interruption.name) during \(kind.rawValue): \(results.count) of \(planned) scenarios finished and reported"
                            break runs
                        }
                        results.append(result)
                        if devices.isEmpty { devices = used }
                    }
                }
            }
            var checks: [CheckResult] = []
            if level == .long && interrupted == nil {
                checks.append(Self.soakCheck(environment: environment, pool: pool, seed: model.seed, duration: soakDurationValue!))
                if Interruption.signal == nil {
                    checks.append(CrashCycleCheck.run(environment: environment, configuration: pool, cycles: crashCycles ?? 100))
                }
                if Interruption.signal != nil {
                    interrupted = "\(Interruption.name) during the long checks: \(results.count) of \(planned) scenarios finished and reported, the checks cut short"
                }
            }
            let plan = try ShardPlan.make(shardType, config: config, shardCount: browsers.count)
            var info = TestInfo(model: config.name, browsers: browsers, recoveryStrategy: strategies.count > 1 ? "all" : recoveryStrategy.rawValue,
                                timestamp: Self.timestamp(), seed: model.seed, devices: devices, toolVersion: Poolfault.version,
                                shardType: shardType.rawValue, shards: plan.shards.map(\.description),
                                layers: config.numLayers, sequenceLength: config.sequenceLength,
                                weights: "\(weights.source)", contextMode: contextModeLabel,
                                validation: instance.validationLog != nil, shaderCache: mesaCacheState(),
                                lavapipeVectorWidth: lavapipeWidthState(),
                                openblas: "\(openblasThreads()) threads, \(OpenBLASCore.description), \(ThreadPoolSpin.openBLAS)",
                                cpuLinear: "\(CPUReference.linearKernels), \(ThreadPoolSpin.openMP)")
            info.isolation = poolOptions.isolation.rawValue
            info.interrupted = interrupted
            info.level = level?.rawValue
            info.integrity = ScenarioRunner.integrityLabel(pool)
            info.watchdog = poolOptions.isolation == .process ? poolOptions.watchdog : nil
            var report = FaultTestReport(testInfo: info, scenarios: results)
            report.checks = checks
            let webgpu = devices.filter { $0.backend == "webgpu" }
            report.host = HostIdentity.current(devices: try instance.physicalDevices().map(\.info),
                                               usedSoftware: webgpu.isEmpty ? physical.info.isSoftware : webgpu.allSatisfy(\.software))
            // The verdict first, on stdout: a full disk or a lost output directory must not take
            // it (and the latency tables) down with the files.
            if json {
                print(String(decoding: try JSONReport.encode(report), as: UTF8.self))
            } else {
                let useColor = color == .always || (color == .auto && TerminalReport.colorEnabled())
                print(TerminalReport.render(report, color: useColor))
            }
            fflush(nil)
            let path = try JSONReport.write(report, toDirectory: outputURL)
            var written = [path.path]
            let processEnvironment = ProcessInfo.processInfo.environment
            do {
                if !noHtml {
                    let htmlURL = html.map { URL(fileURLWithPath: $0) } ?? path.deletingPathExtension().appendingPathExtension("html")
                    try HTMLReport.write(report, to: htmlURL)
                    written.append("HTML to \(htmlURL.path)")
                }
                if let junit {
                    try JUnitReport.write(report, to: URL(fileURLWithPath: junit))
                    written.append("JUnit to \(junit)")
                }
                if let prometheusTextfile {
                    try PrometheusReport.write(report, to: URL(fileURLWithPath: prometheusTextfile))
                    written.append("Prometheus metrics to \(prometheusTextfile)")
                }
                if let trace = poolOptions.trace {
                    try TraceReport.write(report, to: URL(fileURLWithPath: trace))
                    written.append("trace to \(trace)")
                }
                if let summary = processEnvironment["GITHUB_STEP_SUMMARY"], !summary.isEmpty {
                    try StepSummary.append(report, to: summary)
                }
            } catch {
                // Whatever was written is still said, so no result is lost with the failure.
                printError("poolfault: JSON report written to " + written.joined(separator: ", "))
                throw error
            }
            printError("poolfault: JSON report written to " + written.joined(separator: ", "))
            if processEnvironment["GITHUB_ACTIONS"] == "true" {
                for line in StepSummary.errorAnnotations(report) { printError(line) }
            }
            let messages = instance.validationLog?.drain() ?? []
            for m in messages { printError("validation: \(m)") }
            if !messages.isEmpty { printError("poolfault: the Khronos validation layer reported \(messages.count) message(s)") }
            status = report.summary.overallSuccess && messages.isEmpty ? 0 : ExitStatus.scenarioFailed
            if interrupted != nil, let code = Interruption.exitStatus { status = code }
        }
        if status != 0 { throw ExitCode(status) }
    }

    /// One shard per browser: refuses, naming the flags to change, a model too small to cut
    /// into that many shards of the chosen type.
    private func checkShardCount(_ config: ModelConfig, browsers: [String]) throws {
        let maximum = shardType.maximumShards(for: config)
        let needed = browsers.count
        guard needed > maximum else { return }
        var fixes: [String] = []
        if shardType != .component {
            let perLayer = shardType == .layer ? 1 : 2
            let layersNeeded = (needed + perLayer - 1) / perLayer
            if let full = try? ModelConfig.named(config.name), layersNeeded <= full.numLayers {
                fixes.append("--layers \(layersNeeded) or more")
            }
            fixes.append("--shard-type \(shardType == .layer ? "attention_feedforward or component" : "component")")
        }
        fixes.append("\(maximum) or fewer --browsers")
        throw ValidationError("--shard-type \(shardType.rawValue) cuts \(config.name) (\(config.numLayers) layer\(config.numLayers == 1 ? "" : "s")) into at most \(maximum) shard\(maximum == 1 ? "" : "s"), but the \(needed) browsers need one each: use \(fixes.joined(separator: ", or "))")
    }

    /// `--level long`'s soak: 60 s (`--soak-duration`), 8 clients, a fault every ~5 s (the original
    /// four), progressive, judged on the soak's default SLOs.
    static func soakCheck(environment: GPUEnvironment, pool: PoolConfiguration, seed: UInt64, duration: Duration) -> CheckResult {
        let began = ContinuousClock.now
        let kinds = FaultKind.original.filter { pool.refusal(toHost: $0, target: .drawn) == nil }
        let plan = SoakPlan(duration: duration, clients: 8, faultInterval: .seconds(5), faults: kinds, strategy: .progressive, seed: seed)
        do {
            let result = try SoakRunner(environment: environment, configuration: pool, plan: plan).run()
            let soak = SoakReport(result: result, plan: plan, model: environment.config.name, browsers: pool.browsers,
                                  device: environment.initialDevice.name, isolation: pool.isolation.rawValue,
                                  sloAvailability: 0.99, sloP99Ratio: 10)
            let figures = ["requests": "\(soak.requests)", "requests_per_second": String(format: "%.1f", soak.requestsPerSecond),
                           "requests_lost": "\(soak.requestsLost)", "requests_wrong": "\(soak.requestsWrong)",
                           "availability": String(format: "%.4f", soak.availability), "faults": "\(soak.faults.count)",
                           "p99_ratio": soak.p99Ratio.map { String(format: "%.2f", $0) } ?? "—"]
            let message = soak.verdict.pass
                ? String(format: "%d requests, none lost or wrong, availability %.4f, %d faults recovered", soak.requests, soak.availability, soak.faults.count)
                : soak.verdict.reasons.joined(separator: "; ")
            return CheckResult(name: "soak", success: soak.verdict.pass, duration: (ContinuousClock.now - began).seconds,
                               message: message, figures: figures)
        } catch {
            return CheckResult(name: "soak", success: false, duration: (ContinuousClock.now - began).seconds, message: "\(error)")
        }
    }

    /// "YYYYmmdd_HHMMSS", local time, as the original tool named its reports.
    static func timestamp() -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyyMMdd_HHmmss"
        f.locale = Locale(identifier: "en_US_POSIX")
        return f.string(from: Date())
    }

    /// Creates the output directory (with parents) and proves it writable before any work.
    static func ensureWritable(_ url: URL) throws {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            let probe = url.appendingPathComponent(".poolfault-write-test-\(getpid())")
            try Data().write(to: probe)
            try FileManager.default.removeItem(at: probe)
        } catch {
            throw ReportWriteError.unwritable(path: url.path, reason: FileAccess.reason(of: error))
        }
    }
}
