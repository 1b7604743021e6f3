// FleetMerge: fleet percentiles are exactly those of every node's samples pooled (bucket for
// bucket), over seeds and fleet sizes; node verdicts, reasons, outliers, software Vulkan and
// missing nodes; every unreadable report is refused by name; a thousand reports merge in time
// linear in their number.

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

    static func host(_ name: String, software: Bool = false) -> HostIdentity {
        HostIdentity(hostname: name, kernel: "Linux 6.1.0 x86_64", os: "Debian GNU/Linux 12 (bookworm)", cpu: "test", cores: 2, gpus: [],
                     softwareVulkan: software, scheduler: SchedulerIdentity(environment: ["SLURM_JOB_ID": "77", "SLURMD_NODENAME": name]))
    }

    /// A soak-shaped report (the smallest kind) with these samples per key.
    static func report(node: String, samples: [HistogramKey: [Double]], pass: Bool = true, reasons: [String] = [],
                       software: Bool = false, schema: String = "1.1") throws -> Data {
        struct Doc: Encodable {
            let schemaVersion: String; let tool = "poolfault soak"; let timestamp = "20261130_000000"; let host: HostIdentity
            let histograms: [ReportHistogram]; let verdict: [String: AnyEncodable]
        }
        var set = HistogramSet()
        for (key, values) in samples { for v in values { set.record(key, seconds: v) } }
        let doc = Doc(schemaVersion: schema, host: host(node, software: software), histograms: set.histograms,
                      verdict: ["pass": AnyEncodable(pass), "reasons": AnyEncodable(reasons)])
        return try OrderedJSONEncoder().encode(doc)
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

    /// Merging is linear in the number of reports: 1,000 take at most 15× the time of 100 (medians
    /// of 3; a ratio, so the verdict does not depend on the machine's speed), and stay under a
    /// second per hundred (README: about 0.2 s per hundred, release).
    @Test func aThousandReportsMergeInLinearTime() throws {
        var rng = Xoshiro256StarStar(seed: 9)
        var files: [String: Data] = [:]
        for n in 0..<1000 {
            var samples: [HistogramKey: [Double]] = [:]
            for key in Self.keys { samples[key] = (0..<20).map { _ in 0.1 * (0.5 + rng.unit()) } }
            files[String(format: "n%04d/soak_1.json", n)] = try Self.report(node: String(format: "gpu-%04d", n), samples: samples)
        }
        let dir = try Self.write(files)
        defer { try? FileManager.default.removeItem(at: dir) }
        let all = try FleetMerge.reportFiles(in: [dir.path])
        #expect(all.count == 1000)
        func seconds(_ urls: [URL]) throws -> Double {
            var times: [Double] = []
            for _ in 0..<3 {
                let start = ContinuousClock.now
                let fleet = FleetMerge.merge(try FleetMerge.read(urls), outlierFactor: 3, requireGPU: false, mergedAt: "now")
                times.append((ContinuousClock.now - start) / .seconds(1))
                #expect(fleet.nodes.count == urls.count)
            }
            return times.sorted()[1]
        }
        let hundred = try seconds(Array(all.prefix(100))), thousand = try seconds(all)
        #expect(thousand <= 15 * hundred, "1,000 reports took \(thousand) s, 100 took \(hundred) s")
        // And the issue's own bound, under a second per hundred, with room for a loaded debug build
        // (measured here: ~1.7 s debug for the thousand; 1,000 real 58 KB run reports: 2.0 s release).
        #expect(thousand < 10, "1,000 reports took \(thousand) s")
    }
}

/// Any Encodable, for hand-built documents.
struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}
