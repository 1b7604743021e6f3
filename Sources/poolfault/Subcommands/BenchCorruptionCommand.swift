import ArgumentParser
import FaultTest
import Foundation
import Transformer
import TransformerGPU
import VulkanCompute

/// `poolfault bench corruption`: how much silent corruption each detector catches, how fast,
/// at what cost, and whether it ever fires on a clean run.
struct BenchCorruptionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corruption",
        abstract: "Silent-corruption detection: N seeded corruptions and N clean runs; per detector coverage, latency, false positives and cost.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var deviceOptions: DeviceOptions

    @Option(parsing: .unconditional, help: "Seeded corruptions, and as many clean runs (1–100000).")
    var trials = 200

    @Option(help: "The detectors to run, comma-separated: reference (the output against the CPU reference), checksum (the Linear checksums), scrub (the weights' row digests).")
    var detectors = "reference,checksum,scrub"

    @Option(help: "The corruption magnitudes to cycle through: subtle, gross, mixed.")
    var magnitudes = "subtle,gross,mixed"

    @Option(parsing: .unconditional, help: "Timed forwards (with and without checksums, alternating) and scrubs for the cost figures (1–1000).")
    var runs = 5

    @Option(help: "Write bench_corruption_<timestamp>.json here.")
    var outputDir: String?

    @Option(help: "Write an HTML page with the coverage and latency plots to this file.")
    var html: String?

    @Flag(help: "Print the report as JSON on stdout.")
    var json = false

    var detectorList: [CorruptionDetector]? { Self.list(detectors, CorruptionDetector.init(rawValue:)) }
    var magnitudeList: [CorruptionMagnitude]? { Self.list(magnitudes, CorruptionMagnitude.init(rawValue:)) }

    static func list<T: Equatable>(_ text: String, _ make: (String) -> T?) -> [T]? {
        let items = text.split(separator: ",").map { make($0.trimmingCharacters(in: .whitespaces)) }
        guard !items.isEmpty, items.allSatisfy({ $0 != nil }) else { return nil }
        return items.compactMap { $0 }.reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
    }

    func validate() throws {
        guard (1...100_000).contains(trials) else { throw ValidationError("--trials must be from 1 to 100000 (got \(trials))") }
        guard (1...1000).contains(runs) else { throw ValidationError("--runs must be from 1 to 1000 (got \(runs))") }
        guard detectorList != nil else { throw ValidationError("--detectors takes reference, checksum, scrub, comma-separated (got \(detectors))") }
        guard magnitudeList != nil else { throw ValidationError("--magnitudes takes subtle, gross, mixed, comma-separated (got \(magnitudes))") }
    }

    struct Costs: Encodable {
        let forwardMs: Double
        let forwardWithChecksumsMs: Double?
        /// forward with checksums ÷ without − 1.
        let checksumOverhead: Double?
        let scrubMs: Double?
        let scrubBytes: Int?
        /// One full scrub ÷ one forward.
        let scrubPerForward: Double?
    }

    struct Report: Encodable {
        let schemaVersion = ReportVersion.benchCorruption
        let tool = "poolfault bench corruption"
        let timestamp: String
        let host: HostIdentity?
        let model: String
        let device: String
        let seed: UInt64
        let trials: Int
        let magnitudes: [String]
        let detectors: [DetectorCoverage]
        let byMagnitude: [String: [String: Int]]
        let clean: CorruptionBench.Clean
        let costs: Costs
        let verdict: Verdict
        let corruptions: [CorruptionBench.Trial]
    }
    struct Verdict: Encodable { let pass: Bool; let reasons: [String] }

    func run() throws {
        var status: Int32 = 0
        try reportingErrors {
            if let outputDir { try RunCommand.ensureWritable(URL(fileURLWithPath: outputDir)) }
            if let html { try ReportFiles.checkWritable(file: URL(fileURLWithPath: html)) }
            let (config, weights) = try model.load()
            let cpu = try CPUReference(weights: weights)
            let (instance, physical) = try deviceOptions.open(logger: Logs.logger("bench"))
            let device = try ComputeDevice(physical: physical, label: "bench")
            let channel = try Channel(device: device, label: "bench")
            let detectors = detectorList!
            let checks = IntegrityChecks(checksums: detectors.contains(.checksum), scrubbing: detectors.contains(.scrub))
            let context = try GPUModelContext(channel: channel, config: config,
                                              kernels: try GPUKernels(device: device, config: config, integrity: checks))
            for c in config.components { try context.load(c, from: weights) }
            let bench = CorruptionBench(config: config, weights: weights, cpu: cpu, context: context, detectors: detectors,
                                        magnitudes: magnitudeList!, seed: model.seed)
            let progress = Progress(total: 2 * trials + 1)
            let trialsRun = try bench.corrupted(trials: trials) { progress.step($0) }
            let clean = try bench.clean(runs: trials) { progress.step($0) }
            progress.step("costs")
            let costs = try measureCosts(context: context, config: config, weights: weights, channel: channel, device: device)
            progress.finish()
            let coverage = detectors.map { DetectorCoverage($0.rawValue, trials: trialsRun, falsePositives: clean.falsePositives[$0.rawValue] ?? 0) }
            var byMagnitude: [String: [String: Int]] = [:]
            for (magnitude, group) in Dictionary(grouping: trialsRun, by: \.magnitude) {
                var row = ["trials": group.count, "output_changed": group.filter(\.outputChanged).count]
                for d in detectors { row["caught_by_\(d.rawValue)"] = group.filter { $0.caught[d.rawValue] == true }.count }
                byMagnitude[magnitude] = row
            }
            var reasons: [String] = []
            for c in coverage where c.falsePositives > 0 { reasons.append("\(c.detector): \(c.falsePositives) false positive(s) on \(clean.runs) clean runs") }
            if let checksum = coverage.first(where: { $0.detector == "checksum" }), let covered = checksum.coverageChanged, covered < 0.99 {
                reasons.append(String(format: "checksum caught %.1f%% of the corruptions that changed the output (target ≥ 99%%)", covered * 100))
            }
            let report = Report(timestamp: RunCommand.timestamp(),
                                host: HostIdentity.current(devices: try instance.physicalDevices().map(\.info), usedSoftware: physical.info.isSoftware),
                                model: config.name, device: "\(physical.info.name) (\(physical.info.driverInfo))", seed: model.seed, trials: trials,
                                magnitudes: magnitudeList!.map(\.rawValue), detectors: coverage, byMagnitude: byMagnitude, clean: clean,
                                costs: costs, verdict: Verdict(pass: reasons.isEmpty, reasons: reasons), corruptions: trialsRun)
            var written: [String] = []
            if let outputDir {
                let url = URL(fileURLWithPath: outputDir).appendingPathComponent("bench_corruption_\(report.timestamp).json")
                try ReportFiles.replace(url, with: Data(try jsonString(report).utf8))
                written.append(url.path)
            }
            if let html {
                try ReportFiles.replace(URL(fileURLWithPath: html), with: Data(BenchCorruptionHTML.render(report).utf8))
                written.append(html)
            }
            print(json ? try jsonString(report) : Self.terminal(report))
            if !written.isEmpty { printError("poolfault: bench corruption written to " + written.joined(separator: ", ")) }
            try finishValidation(instance)
            status = report.verdict.pass ? 0 : ExitStatus.scenarioFailed
        }
        if status != 0 { throw ExitCode(status) }
    }

    /// Forward with and without checksums (a second context without them, alternating run by
    /// run), and full scrubs: medians.
    private func measureCosts(context: GPUModelContext, config: ModelConfig, weights: WeightStore, channel: Channel,
                              device: ComputeDevice) throws -> Costs {
        let input = ModelInput.seeded(config: config, seed: model.seed)
        let plain = try GPUModelContext(channel: channel, config: config, kernels: try GPUKernels(device: device, config: config))
        for c in config.components { try plain.load(c, from: weights) }
        var checked: [Double] = [], unchecked: [Double] = [], scrubs: [Double] = []
        var bytes: Int?
        for _ in 0...runs {  // the first pair warms up
            var a = try ActivationState.initial(input, config: config)
            let start = ContinuousClock.now
            try plain.run(config.components, state: &a)
            unchecked.append((ContinuousClock.now - start).seconds)
            if context.integrity.checksums {
                var b = try ActivationState.initial(input, config: config)
                let began = ContinuousClock.now
                try context.run(config.components, state: &b)
                checked.append((ContinuousClock.now - began).seconds)
            }
            if context.integrity.scrubbing {
                let report = try context.scrub()
                scrubs.append(report.seconds)
                bytes = report.bytes
            }
        }
        func median(_ v: [Double]) -> Double? { v.count < 2 ? nil : Array(v.dropFirst()).sorted()[(v.count - 1) / 2] * 1000 }
        let forward = median(unchecked) ?? 0, withChecks = median(checked), scrub = median(scrubs)
        return Costs(forwardMs: forward, forwardWithChecksumsMs: withChecks, checksumOverhead: withChecks.map { $0 / forward - 1 },
                     scrubMs: scrub, scrubBytes: bytes, scrubPerForward: scrub.map { $0 / forward })
    }

    static func terminal(_ r: Report) -> String {
        var out = ["BENCH CORRUPTION: \(r.model) · \(r.device) · \(r.trials) seeded corruptions (\(r.magnitudes.joined(separator: ", "))) and \(r.clean.runs) clean runs",
                   "detector    caught (all)     caught (changed the output)   latency p50 / p99 ms   false positives"]
        for c in r.detectors {
            let all = String(format: "%d/%d %5.1f%%", c.detected, c.corruptions, c.coverageAll * 100)
            let changed = c.coverageChanged.map { String(format: "%d/%d %5.1f%%", c.detectedOfChanged, c.changed, $0 * 100) } ?? "none changed it"
            out.append(c.detector.padding(toLength: 12, withPad: " ", startingAt: 0) + all.padding(toLength: 17, withPad: " ", startingAt: 0)
                       + changed.padding(toLength: 30, withPad: " ", startingAt: 0)
                       + String(format: "%8.1f / %-8.1f", c.latencyP50Ms, c.latencyP99Ms) + "     \(c.falsePositives) of \(r.clean.runs)")
        }
        for (magnitude, row) in r.byMagnitude.sorted(by: { $0.key < $1.key }) {
            let caught = row.filter { $0.key.hasPrefix("caught_by_") }.sorted { $0.key < $1.key }
                .map { "\($0.key.dropFirst("caught_by_".count)) \($0.value)" }.joined(separator: ", ")
            out.append("  \(magnitude): \(row["trials"] ?? 0) trials, \(row["output_changed"] ?? 0) changed the output; caught: \(caught)")
        }
        var cost = [String(format: "forward %.1f ms", r.costs.forwardMs)]
        if let w = r.costs.forwardWithChecksumsMs, let o = r.costs.checksumOverhead { cost.append(String(format: "with checksums %.1f ms (%+.1f%%)", w, o * 100)) }
        if let s = r.costs.scrubMs, let ratio = r.costs.scrubPerForward {
            cost.append(String(format: "one full scrub %.1f ms (%.2f× a forward, %@)", s, ratio, humanBytes(UInt64(r.costs.scrubBytes ?? 0))))
        }
        out.append("cost: " + cost.joined(separator: " · ") + (r.clean.worstChecksumRatio.map { String(format: " · clean checksums at most %.3f of their bound", $0) } ?? ""))
        out.append("Overall Result: " + (r.verdict.pass ? "✅ SUCCESS" : "❌ FAILED: " + r.verdict.reasons.joined(separator: "; ")))
        return out.joined(separator: "\n")
    }
}
