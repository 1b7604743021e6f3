import ArgumentParser
import FaultTest
import Foundation

/// `poolfault report`: work on reports already written.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Work on written reports: merge many nodes' reports into one fleet verdict.",
        subcommands: [ReportMergeCommand.self])
}

/// `poolfault report merge PATH... --output fleet.json`: one verdict per node and one for the
/// fleet, fleet latency percentiles computed exactly by adding the nodes' histograms.
struct ReportMergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge run, soak and bench recovery reports (files, or directories searched for them) into a fleet report.",
        discussion: """
            Exit status: 0 when every node passed, 1 when one failed (or none reported), 65 when a report \
            cannot be read (each such file is named), 64 for a usage error.
            """)

    @Argument(help: "Report files, or directories searched (recursively) for results_*.json, soak_*.json and bench_recovery_*.json.")
    var paths: [String]

    @Option(help: "Where to write the fleet report (JSON).")
    var output: String

    @Option(help: "Also write a JUnit XML file: a testcase per node.")
    var junit: String?

    @Option(help: "Also write an HTML page of the fleet.")
    var html: String?

    @Option(help: "Call a node an outlier when its p50 is beyond this many times the fleet's (above 1).")
    var outlierFactor = 3.0

    @Option(help: "How many nodes should have reported: fewer fails the fleet (a node whose job never ran writes nothing).")
    var expectNodes: Int?

    @Flag(help: "Fail a node whose runs used software Vulkan (lavapipe).")
    var requireGPU = false

    @Flag(help: "Print the fleet report as JSON instead of the summary.")
    var json = false

    func validate() throws {
        if let n = expectNodes, n < 1 { throw ValidationError("--expect-nodes must be at least 1 (got \(n))") }
        guard outlierFactor.isFinite, outlierFactor > 1 else { throw ValidationError("--outlier-factor must be above 1, e.g. 3 (got \(outlierFactor))") }
    }

    func run() throws {
        var status: Int32 = 0
        try reportingErrors {
            let outputs = [output, junit, html].compactMap { $0 }.map { URL(fileURLWithPath: $0) }
            for url in outputs { try ReportFiles.checkWritable(file: url) }
            let files: [URL]
            var reports: [NodeReport]
            do {
                // The merge's own outputs are never inputs, even when they sit among the reports.
                let written = Set(outputs.map(\.standardizedFileURL.path))
                files = try FleetMerge.reportFiles(in: paths).filter { !written.contains($0.standardizedFileURL.path) }
                reports = try FleetMerge.read(files)
            } catch let error as NodeReportError {
                throw DataError(message: error.description)
            } catch let error as FleetInputError {
                throw DataError(message: error.description)
            }
            let (distinct, duplicates) = FleetMerge.distinct(reports)
            reports = distinct
            for copy in duplicates { printError("poolfault: counted once: \(copy)") }
            if reports.isEmpty {
                printError("poolfault: no poolfault report found in \(paths.joined(separator: ", ")) (looked for results_*.json, soak_*.json, bench_recovery_*.json): the fleet fails")
            }
            var fleet = FleetMerge.merge(reports, outlierFactor: outlierFactor, requireGPU: requireGPU, expectNodes: expectNodes,
                                         mergedAt: ISO8601DateFormatter().string(from: Date()))
            fleet.summary.duplicateReports = duplicates.isEmpty ? nil : duplicates
            if let extra = fleet.summary.unexpectedNodes {
                printError("poolfault: \(fleet.summary.nodes) nodes reported, \(extra) more than --expect-nodes \(expectNodes ?? 0): were reports of another fleet merged too?")
            }
            try ReportFiles.replace(URL(fileURLWithPath: output), with: try FleetViews.json(fleet))
            var written = ["fleet report written to \(output)"]
            if let junit {
                try ReportFiles.replace(URL(fileURLWithPath: junit), with: Data(FleetViews.junit(fleet).utf8))
                written.append("JUnit to \(junit)")
            }
            if let html {
                try ReportFiles.replace(URL(fileURLWithPath: html), with: Data(FleetViews.html(fleet).utf8))
                written.append("HTML to \(html)")
            }
            print(json ? String(decoding: try FleetViews.json(fleet), as: UTF8.self) : FleetViews.terminal(fleet))
            printError("poolfault: " + written.joined(separator: ", "))
            status = fleet.summary.pass ? 0 : ExitStatus.scenarioFailed
        }
        if status != 0 { throw ExitCode(status) }
    }
}

/// Input that is not what it claims to be (exit 65, EX_DATAERR).
struct DataError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
