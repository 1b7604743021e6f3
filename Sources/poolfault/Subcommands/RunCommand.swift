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

    @Option(help: "Scenario to run (default: all four, in order).")
    var scenario: FaultKind?

    @Option(help: "Recovery strategy.")
    var recoveryStrategy: RecoveryStrategyKind = .progressive

    @Option(help: "Directory for the JSON report (created with parents).")
    var outputDir = "./fault_tolerance_basic_test_results"

    @Option(help: "Browsers, one context each (comma-separated).")
    var browsers = "chrome,firefox,edge"

    @Option(help: "Browsers whose context is WebNN, the CPU path (comma-separated), e.g. --webnn edge.")
    var webnn: String?

    @Option(help: "How components are grouped into shards.")
    var shardType: ShardType = .layer

    @Option(help: "device: a VkDevice per context; queue: contexts share a device, a queue each (where the GPU has enough queues).")
    var contextMode: PoolConfiguration.ContextMode = .device

    @Option(help: "The context a fault hits: a name or an index (default: drawn with --seed).")
    var faultTarget: String?

    @Option(help: "Also write a JUnit XML report to this file.")
    var junit: String?

    @Flag(help: "Print the JSON report on stdout instead of the terminal layout.")
    var json = false

    @Option(help: "Colour on the terminal: auto (a TTY without NO_COLOR), always, never.")
    var color: ColorMode = .auto

    @Option(help: "Run the scenarios this many times.")
    var `repeat` = 1

    func validate() throws {
        guard `repeat` >= 1 else { throw ValidationError("--repeat must be at least 1") }
        if let name = model.model, model.weights == nil {
            do { _ = try ModelConfig.named(name) } catch { throw ValidationError("\(error)") }
        }
        guard !browserList.isEmpty else { throw ValidationError("--browsers needs at least one browser") }
        let unknown = webnnSet.subtracting(browserList)
        guard unknown.isEmpty else {
            throw ValidationError("--webnn names \(unknown.sorted().joined(separator: ", ")), not in --browsers \(browsers)")
        }
    }

    var browserList: [String] { browsers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
    var webnnSet: Set<String> { Set((webnn ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) }

    func run() throws {
        var status: Int32 = 0
        try reportingErrors {
            let outputURL = URL(fileURLWithPath: outputDir)
            try ensureWritable(outputURL)
            let (config, weights) = try model.load()
            let logger = Logs.logger("run")
            let (instance, physical) = try deviceOptions.open(logger: logger)
            let environment = try GPUEnvironment(instance: instance, selection: deviceOptions.selection, config: config,
                                                 weights: weights, cpu: try CPUReference(weights: weights))
            var pool = PoolConfiguration()
            pool.browsers = browserList
            pool.webnnBrowsers = webnnSet
            pool.shardType = shardType
            pool.seed = model.seed
            pool.contextMode = .device
            var contextModeLabel = "device"
            if contextMode == .queue {
                let queues = physical.info.computeFamily?.count ?? 1
                let gpuContexts = browserList.filter { !webnnSet.contains($0) }.count
                if queues >= gpuContexts {
                    pool.contextMode = .queue
                    contextModeLabel = "queue (\(gpuContexts) queues of one \(physical.info.name) device)"
                } else {
                    contextModeLabel = "device (queue requested; \(physical.info.name) offers \(queues) compute queue\(queues == 1 ? "" : "s") for \(gpuContexts) contexts)"
                    printError("poolfault: --context-mode queue: \(physical.info.name) offers \(queues) compute queue\(queues == 1 ? "" : "s") for \(gpuContexts) contexts: using a VkDevice per context")
                }
            }
            let target: FaultTarget = faultTarget.map { Int($0).map(FaultTarget.index) ?? .named($0) } ?? .drawn
            let runner = try ScenarioRunner(environment: environment, configuration: pool, strategy: recoveryStrategy,
                                            faultTarget: target)
            let scenarios = Array(repeating: scenario.map { [$0] } ?? FaultKind.allCases, count: `repeat`).flatMap { $0 }
            var results: [ScenarioResult] = []
            var devices: [DeviceSummary] = []
            for kind in scenarios {
                let (result, used) = runner.run(kind)
                results.append(result)
                if devices.isEmpty { devices = used }
            }
            let plan = try ShardPlan.make(shardType, config: config, shardCount: browserList.count)
            let info = TestInfo(model: config.name, browsers: browserList, recoveryStrategy: recoveryStrategy.rawValue,
                                timestamp: Self.timestamp(), seed: model.seed, devices: devices, toolVersion: Poolfault.version,
                                shardType: shardType.rawValue, shards: plan.shards.map(\.description),
                                layers: config.numLayers, sequenceLength: config.sequenceLength,
                                weights: "\(weights.source)", contextMode: contextModeLabel,
                                validation: instance.validationLog != nil, shaderCache: mesaCacheState(),
                                lavapipeVectorWidth: lavapipeWidthState(),
                                openblas: "\(openblasThreads()) threads, \(OpenBLASSpin.description)")
            let report = FaultTestReport(testInfo: info, scenarios: results)
            let path = try JSONReport.write(report, toDirectory: outputURL)
            if let junit { try JUnitReport.write(report, to: URL(fileURLWithPath: junit)) }
            if json {
                print(String(decoding: try JSONReport.encode(report), as: UTF8.self))
            } else {
                let useColor = color == .always || (color == .auto && TerminalReport.colorEnabled())
                print(TerminalReport.render(report, color: useColor))
            }
            printError("poolfault: JSON report written to \(path.path)" + (junit.map { ", JUnit to \($0)" } ?? ""))
            let messages = instance.validationLog?.drain() ?? []
            for m in messages { printError("validation: \(m)") }
            if !messages.isEmpty { printError("poolfault: the Khronos validation layer reported \(messages.count) message(s)") }
            status = report.summary.overallSuccess && messages.isEmpty ? 0 : ExitStatus.scenarioFailed
        }
        if status != 0 { throw ExitCode(status) }
    }

    /// "YYYYmmdd_HHMMSS", local time, as the original tool named its reports.
    static func timestamp() -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyyMMdd_HHmmss"
        f.locale = Locale(identifier: "en_US_POSIX")
        return f.string(from: Date())
    }

    /// Creates the output directory (with parents) and proves it writable before any work.
    private func ensureWritable(_ url: URL) throws {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            let probe = url.appendingPathComponent(".poolfault-write-test-\(getpid())")
            try Data().write(to: probe)
            try FileManager.default.removeItem(at: probe)
        } catch {
            throw ReportWriteError.unwritable(path: url.path, reason: error.localizedDescription)
        }
    }
}
