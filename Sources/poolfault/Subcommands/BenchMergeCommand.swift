import ArgumentParser
import FaultTest
import Foundation

/// `poolfault bench merge`: how long `report merge` takes on a fleet — read, merge, write the
/// fleet JSON — for a tenth of the fleet and for all of it, medians over runs, so both the cost
/// per hundred nodes and how it scales (1 = linear) come out of the same run.
struct BenchMergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Time `report merge` on a made-up fleet: seconds per hundred reports, and how it scales.",
        discussion: """
            The reports are written to a private temporary directory first (removed at the end): seeded soak-shaped reports with the \
            histogram keys of a real run report, or, with --template, copies of one real report renamed \
            node by node. They are read from the page cache (the first run warms it).
            """)

    @Option(help: "Reports in the fleet (one node each).")
    var nodes = 1000

    @Option(help: "Timed merges of each size (the median is reported).")
    var runs = 3

    @Option(help: "Samples per histogram key in each made-up report.")
    var samples = 20

    @Option(help: "A real report (run, soak or bench recovery) to copy once per node instead of made-up ones.")
    var template: String?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    /// The issue's bound: a thousand reports in well under ten seconds.
    static let targetSecondsPerHundred = 1.0

    struct Report: Encodable {
        let reports: String
        let bytesPerReport: Int
        let runs: Int
        let sizes: [Int]
        let medianSeconds: [Double]
        let secondsPerHundred: Double
        let scaling: Double
        let targetSecondsPerHundred: Double
        let meetsTarget: Bool
    }

    func validate() throws {
        guard nodes >= 10 else { throw ValidationError("--nodes must be at least 10 (got \(nodes)): a tenth of them is timed too") }
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1 (got \(runs))") }
        guard samples >= 1 else { throw ValidationError("--samples must be at least 1 (got \(samples))") }
    }

    func run() throws {
        try reportingErrors {
            var templateData: Data?
            if let template {
                do {
                    guard try NodeReport.read(URL(fileURLWithPath: template)) != nil else {
                        throw DataError(message: "\(template): a fleet report, not a node's: give a run, soak or bench recovery report")
                    }
                    templateData = try Data(contentsOf: URL(fileURLWithPath: template))
                    _ = try SyntheticNodeReports.copy(of: templateData!, index: 0)  // a report without `host` cannot be renamed
                } catch let error as NodeReportError {
                    throw DataError(message: error.description.replacingOccurrences(of: "template: ", with: "\(template): "))
                }
            }
            let scratch = try ScratchDirectory("bench-merge")
            defer { withExtendedLifetime(scratch) {} }
            let dir = scratch.url
            var files: [URL] = [], bytes = 0
            for i in 0..<nodes {
                let data = try templateData.map { try SyntheticNodeReports.copy(of: $0, index: i) }
                    ?? SyntheticNodeReports.seededSoakReport(index: i, seed: 1, samplesPerKey: samples)
                let url = dir.appendingPathComponent("\(SyntheticNodeReports.nodeName(i))/\(templateData == nil ? "soak" : "results")_1.json")
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: false)
                try data.write(to: url)
                files.append(url)
                bytes += data.count
            }
            let sizes = [nodes / 10, nodes]
            // Warm-up (the files are in the page cache, just written): the allocator and the code,
            // so neither size pays for them alone.
            _ = try mergeSeconds(Array(files.prefix(sizes[0])))
            var times = [[Double]](repeating: [], count: sizes.count)
            for _ in 0..<runs {
                // Alternating sizes: a shared host's noise hits both alike.
                for (i, size) in sizes.enumerated() { times[i].append(try mergeSeconds(Array(files.prefix(size)))) }
            }
            let medians = times.map(median)
            let perHundred = medians[1] / Double(nodes) * 100
            let scaling = medians[1] / (medians[0] * Double(sizes[1]) / Double(sizes[0]))
            let what = template.map { "copies of \($0)" }
                ?? "seeded soak-shaped reports, \(SyntheticNodeReports.runKeys.count) histogram keys × \(samples) samples"
            let report = Report(reports: what, bytesPerReport: bytes / nodes, runs: runs, sizes: sizes, medianSeconds: medians,
                                secondsPerHundred: perHundred, scaling: scaling, targetSecondsPerHundred: Self.targetSecondsPerHundred,
                                meetsTarget: perHundred < Self.targetSecondsPerHundred)
            if json { print(try jsonString(report)); return }
            print("report merge (read, merge, fleet JSON), \(what), \(bytes / nodes) bytes each, page cache warm, medians of \(runs) alternating runs")
            for (size, m) in zip(sizes, medians) {
                print(String(format: "%6d reports  %8.3f s  (%.3f s per hundred)", size, m, m / Double(size) * 100))
            }
            print(String(format: "scaling %.2f (time for %d ÷ %d × time for %d; 1 = linear)", scaling, sizes[1], sizes[1] / sizes[0], sizes[0]))
            print(String(format: "target: under %.1f s per hundred: %@", Self.targetSecondsPerHundred,
                         report.meetsTarget ? "met" : "MISSED (\(String(format: "%.3f", perHundred)) s)"))
        }
    }

    /// What `report merge` does with these files, timed.
    private func mergeSeconds(_ files: [URL]) throws -> Double {
        var fleet: FleetReport?
        let seconds = try time {
            do {
                let merged = FleetMerge.merge(try FleetMerge.read(files), outlierFactor: 3, requireGPU: false, mergedAt: "bench")
                _ = try FleetViews.json(merged)
                fleet = merged
            } catch let error as FleetInputError {
                throw DataError(message: error.description)
            }
        }
        guard fleet?.summary.nodes == files.count else {
            throw MergeMismatch(description: "bench merge: \(files.count) reports merged into \(fleet?.summary.nodes ?? 0) nodes; each should be its own node")
        }
        return seconds
    }
}

/// The merge lost or joined nodes: a bug in poolfault, not in the input (exit 2).
private struct MergeMismatch: Error, CustomStringConvertible { let description: String }
