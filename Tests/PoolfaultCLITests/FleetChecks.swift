import Foundation
import Testing
import FaultTest

/// Checks a fleet report against the raw figures of the run reports it merged: each fleet
/// latency row's count and percentiles must equal those of every raw value pooled — taken from
/// the scenarios' own fields (fault.detection_seconds, recovery.duration), not from the
/// histograms the merge added — so an inexact merge (averaged percentiles, a lost node) fails.
enum FleetChecks {
    typealias JSON = [String: Any]

    static func load(_ url: URL) throws -> JSON {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? JSON, "\(url.path) is not a JSON object")
    }

    /// Raw detection and recovery seconds per "metric|scenario|strategy|isolation", from run reports.
    static func rawSamples(runReports: [JSON]) -> [String: [Double]] {
        var out: [String: [Double]] = [:]
        for report in runReports {
            let info = report["test_info"] as? JSON ?? [:]
            let isolation = info["isolation"] as? String ?? ""
            for case let scenario as JSON in (report["scenarios"] as? JSON ?? [:]).values {
                let name = scenario["scenario"] as? String ?? "?"
                let strategy = scenario["strategy"] as? String ?? info["recovery_strategy"] as? String ?? ""
                if let fault = scenario["fault"] as? JSON {
                    let parts = (fault["parts"] as? [JSON] ?? []).compactMap { $0["detection_seconds"] as? Double }
                    if let d = fault["detection_seconds"] as? Double ?? parts.max() { out["detection|\(name)|\(strategy)|\(isolation)", default: []].append(d) }
                }
                if let recovery = scenario["recovery"] as? JSON, recovery["success"] as? Bool == true, let d = recovery["duration"] as? Double {
                    out["recovery|\(name)|\(strategy)|\(isolation)", default: []].append(d)
                }
            }
        }
        return out
    }

    /// Every detection and recovery row of the fleet equals the pooled raw samples' histogram.
    static func expectExactPercentiles(fleet: JSON, runReports: [JSON]) {
        let raw = rawSamples(runReports: runReports)
        let rows = (fleet["latency"] as? [JSON] ?? []).filter { ["detection", "recovery"].contains($0["metric"] as? String) }
        #expect(!raw.isEmpty && rows.count == raw.count, "fleet rows \(rows.count) vs raw keys \(raw.count)")
        for row in rows {
            let key = ["metric", "scenario", "strategy", "isolation"].map { row[$0] as? String ?? "" }.joined(separator: "|")
            guard let values = raw[key] else { Issue.record("fleet row \(key) has no raw samples"); continue }
            var pooled = LatencyHistogram()
            for v in values { pooled.record(seconds: v) }
            let buckets = pooled.buckets
            #expect(row["count"] as? Int == values.count, "\(key): count")
            for (p, field) in [(50.0, "p50_ms"), (90, "p90_ms"), (99, "p99_ms"), (99.9, "p999_ms"), (100, "max_ms")] {
                let expected = buckets.seconds(atPercentile: p) * 1000
                let got = row[field] as? Double ?? -1
                #expect(abs(got - expected) < 1e-9, "\(key) \(field): fleet \(got) ms, pooled samples \(expected) ms")
            }
        }
    }
}
