// FleetMerge: fleet percentiles are exactly those of every node's samples pooled (bucket for
// bucket), over seeds and fleet sizes; node verdicts, reasons, outliers, software Vulkan and
// missing nodes; every unreadable report is refused by name; a thousand reports merge node by
// node (their speed is `poolfault bench merge`'s to measure).

import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import FaultTest
import Transformer

@Suite struct FleetMergeTests {
    static let keys = [HistogramKey(metric: "recovery", scenario: "browser_crash", strategy: "progressive", isolation: "process"),
                       HistogramKey(metric: "detection", scenario: "browser_crash", strategy: "progressive", isolation: "process")]

    static func report(node: String, samples: [HistogramKey: [Double]], pass: Bool = true, reasons: [String] = [],
                       software: Bool = false, schema: String = "1.1") throws -> Data {
        try SyntheticNodeReports.soakReport(node: node, samples: samples, pass: pass, reasons: reasons, software: software, schema: schema)
    }

    static func write(_ files: [String: Data]) throws -> URL {
        let dir = try ReportFixtures.temporaryDirectory()
        for (name, data) in files {
            let url = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url)
        }
        return dir
    }

    @Test(arguments: [(1, 1), (2, 3), (3, 7), (4, 16), (5, 40)])
    func fleetPercentilesAreThoseOfAllSamplesPooled(seed: Int, nodes: Int) throws {
        var rng = Xoshiro256StarStar(seed: UInt64(seed))
        var pooled: [HistogramKey: LatencyHistogram] = [:]
        var raw: [HistogramKey: [Double]] = [:]
        var files: [String: Data] = [:]
        for n in 0..<nodes {
            var samples: [HistogramKey: [Double]] = [:]
            for key in Self.keys {
                // Nodes differ in count and speed, so averaging their percentiles would be wrong.
                let count = 1 + rng.nextInt(below: 60)
                let scale = key.metric == "recovery" ? 0.2 * (1 + Double(n % 3)) : 0.001
                samples[key] = (0..<count).map { _ in scale * (0.5 + rng.unit()) }
                for v in samples[key]! { pooled[key, default: LatencyHistogram()].record(seconds: v) }
                raw[key, default: []] += samples[key]!
            }
            files["n\(n)/soak_\(n).json"] = try Self.report(node: "node-\(n)", samples: samples)
        }
        let dir = try Self.write(files)
        defer { try? FileManager.default.removeItem(at: dir) }
        let reports = try FleetMerge.read(try FleetMerge.reportFiles(in: [dir.path]))
        let fleet = FleetMerge.merge(reports, outlierFactor: 1000, requireGPU: false, mergedAt: "now")
        #expect(fleet.summary.pass && fleet.nodes.count == nodes && fleet.summary.reports == nodes)
        for key in Self.keys {
            let row = try #require(fleet.latency.first { $0.key == key })
            let truth = pooled[key]!.buckets
            #expect(try BucketCounts(encoded: row.hdr) == truth, "\(key.label): merged buckets differ from the pooled samples'")
            #expect(row.count == UInt64(raw[key]!.count) && row.nodes == nodes)
            for (p, value) in zip([50.0, 90, 99, 99.9, 100], [row.p50Ms, row.p90Ms, row.p99Ms, row.p999Ms, row.maxMs]) {
                #expect(value == truth.seconds(atPercentile: p) * 1000, "\(key.label) p\(p)")
            }
        }
    }

    @Test func verdictsReasonsOutliersSoftwareAndMissingNodes() throws {
        let key = Self.keys[0]
        let dir = try Self.write([
            "a/soak_1.json": try Self.report(node: "gpu-a", samples: [key: [0.10, 0.11, 0.12]]),
            "b/soak_1.json": try Self.report(node: "gpu-b", samples: [key: [0.10, 0.12, 0.13]]),
            "c/soak_1.json": try Self.report(node: "gpu-c", samples: [key: [0.9, 1.0, 1.1]]),   // the slow one
            "d/soak_1.json": try Self.report(node: "gpu-d", samples: [key: [0.11]], pass: false, reasons: ["2 request(s) lost"]),
            "e/soak_1.json": try Self.report(node: "cpu-e", samples: [key: [0.1]], software: true),
            "e/trace.json": Data("{\"traceEvents\": []}".utf8),  // not a report name: not read
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        let reports = try FleetMerge.read(try FleetMerge.reportFiles(in: [dir.path]))
        var fleet = FleetMerge.merge(reports, outlierFactor: 3, requireGPU: false, mergedAt: "now")
        #expect(!fleet.summary.pass)
        #expect(fleet.summary.failedNodes == ["gpu-d"])
        #expect(fleet.nodes.first { $0.node == "gpu-d" }?.reasons == ["soak_1.json: 2 request(s) lost"])
        #expect(fleet.outliers.map(\.node) == ["gpu-c"])
        #expect(fleet.summary.softwareVulkanNodes == ["cpu-e"])
        #expect(fleet.nodes.first { $0.node == "gpu-a" }?.reports.first?.scheduler?.jobID == "77")
        // --require-gpu fails the software node too; --expect-nodes fails a fleet that is short.
        fleet = FleetMerge.merge(reports, outlierFactor: 3, requireGPU: true, mergedAt: "now")
        #expect(fleet.summary.failedNodes == ["cpu-e", "gpu-d"])
        let good = reports.filter { $0.pass && !$0.softwareVulkan }
        #expect(FleetMerge.merge(good, outlierFactor: 3, requireGPU: true, expectNodes: 3, mergedAt: "now").summary.pass)
        let short = FleetMerge.merge(good, outlierFactor: 3, requireGPU: true, expectNodes: 4, mergedAt: "now")
        #expect(!short.summary.pass && short.summary.missingNodes == 1)
        #expect(!FleetMerge.merge([], outlierFactor: 3, requireGPU: false, mergedAt: "now").summary.pass)
        // The views: JUnit and HTML are well-formed XML naming every node; the JSON reads back.
        for xml in [FleetViews.junit(fleet), FleetViews.html(fleet)] {
            let parser = XMLParser(data: Data(xml.utf8))
            #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
            for node in ["gpu-a", "gpu-c", "gpu-d", "cpu-e"] { #expect(xml.contains(node)) }
        }
        let back = try FleetViews.decode(try FleetViews.json(fleet))
        #expect(back.summary.failedNodes == fleet.summary.failedNodes && back.latency.map(\.hdr) == fleet.latency.map(\.hdr))
    }

    @Test func everyUnreadableReportIsRefusedByName() throws {
        let key = Self.keys[0]
        let good = try Self.report(node: "gpu-a", samples: [key: [0.1, 0.2]])
        var badCount = try JSONSerialization.jsonObject(with: good) as! [String: Any]
        var histograms = badCount["histograms"] as! [[String: Any]]
        histograms[0]["count"] = 3
        badCount["histograms"] = histograms
        var badHdr = badCount
        histograms[0]["count"] = 2
        histograms[0]["hdr"] = "HISTFAAAAAAA"
        badHdr["histograms"] = histograms
        let cases: [String: (Data, String)] = [
            "results_truncated.json": (good.prefix(good.count / 2), "not valid JSON"),
            "results_garbage.json": (Data([0xff, 0x00, 0x13]), "not valid JSON"),
            "results_array.json": (Data("[1, 2]".utf8), "top level is not a JSON object"),
            "results_foreign.json": (Data("{\"hello\": \"world\"}".utf8), "not a poolfault report"),
            "soak_v2.json": (try Self.report(node: "gpu-b", samples: [key: [0.1]], schema: "2.0"), "schema_version 2.0"),
            "soak_count.json": (try JSONSerialization.data(withJSONObject: badCount), "holds 2 values but says count 3"),
            "soak_hdr.json": (try JSONSerialization.data(withJSONObject: badHdr), "histogram recovery"),
        ]
        var files = cases.mapValues(\.0)
        files["soak_good.json"] = good
        let dir = try Self.write(files)
        defer { try? FileManager.default.removeItem(at: dir) }
        let listed = try FleetMerge.reportFiles(in: [dir.path])
        do {
            _ = try FleetMerge.read(listed)
            Issue.record("read accepted corrupt reports")
        } catch {
            #expect(error.errors.count == cases.count)
            for (name, (_, why)) in cases {
                let mine = error.errors.first { $0.file.hasSuffix("/" + name) }
                #expect(mine?.reason.contains(why) == true, "\(name): \(mine?.reason ?? "not named")")
            }
        }
        // A merge's own output among the reports is skipped, not refused.
        let fleet = FleetMerge.merge(try FleetMerge.read([dir.appendingPathComponent("soak_good.json")]), outlierFactor: 3, requireGPU: false, mergedAt: "now")
        let fleetFile = dir.appendingPathComponent("results_fleet.json")
        try FleetViews.json(fleet).write(to: fleetFile)
        #expect(try NodeReport.read(fleetFile) == nil)
    }

    /// A thousand nodes merge into a thousand, each with its own latencies, and the fleet's counts
    /// are the sum of theirs. How long it takes is `poolfault bench merge`'s business, not a test's:
    /// no verdict here depends on the machine's speed.
    @Test func aThousandReportsMergeNodeByNode() throws {
        var rng = Xoshiro256StarStar(seed: 9)
        var files: [String: Data] = [:]
        for n in 0..<1000 {
            // Two keys, not a run's 24: building histograms is slow in a debug build.
            let samples = Dictionary(uniqueKeysWithValues: Self.keys.map { key in (key, (0..<5).map { _ in 0.1 * (0.5 + rng.unit()) }) })
            files[String(format: "n%04d/soak_1.json", n)] = try Self.report(node: SyntheticNodeReports.nodeName(n), samples: samples)
        }
        let dir = try Self.write(files)
        defer { try? FileManager.default.removeItem(at: dir) }
        let all = try FleetMerge.reportFiles(in: [dir.path])
        #expect(all.count == 1000)
        let fleet = FleetMerge.merge(try FleetMerge.read(all), outlierFactor: 3, requireGPU: false, mergedAt: "now")
        #expect(fleet.summary.nodes == 1000 && fleet.summary.pass)
        #expect(Set(fleet.nodes.map(\.node)).count == 1000)
        #expect(fleet.latency.count == Self.keys.count)
        for row in fleet.latency {
            #expect(row.count == 5000 && row.nodes == 1000, "\(row.key): \(row.count) samples from \(row.nodes) nodes")
        }
        #expect(fleet.nodes.allSatisfy { $0.latency.count == Self.keys.count && $0.latency.allSatisfy { $0.count == 5 } })
    }

    /// A real report copied as another node's: renamed, nothing else changed.
    @Test func aCopiedReportIsAnotherNode() throws {
        let key = Self.keys[0]
        let original = try Self.report(node: "gpu-a", samples: [key: [0.1, 0.2, 0.3]])
        let dir = try Self.write(["a/soak_1.json": original, "b/soak_1.json": try SyntheticNodeReports.copy(of: original, index: 7)])
        defer { try? FileManager.default.removeItem(at: dir) }
        let reports = try FleetMerge.read(try FleetMerge.reportFiles(in: [dir.path]))
        #expect(reports.map(\.node) == ["gpu-a", SyntheticNodeReports.nodeName(7)])
        #expect(reports[0].buckets == reports[1].buckets)
        #expect(throws: NodeReportError.self) { try SyntheticNodeReports.copy(of: Data("[1]".utf8), index: 0) }
    }
}
