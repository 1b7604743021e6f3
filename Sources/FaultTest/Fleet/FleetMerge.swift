import Foundation

/// `poolfault report merge`: many nodes' reports into one FleetReport. Histograms of the same
/// key are added bucket by bucket (BucketCounts), so every fleet percentile is the percentile of
/// all the values the nodes recorded, pooled — never an average of per-node percentiles.
public enum FleetMerge {
    /// Metrics a node is called an outlier on (its p50 beyond `outlierFactor` × the fleet's).
    static let outlierMetrics: Set<String> = ["detection", "recovery", "request"]

    /// The report files a path names: the file itself, or under a directory (recursively) the
    /// files poolfault writes — results_*.json, soak_*.json, bench_recovery_*.json — so traces
    /// and other JSON beside them are not mistaken for reports. Sorted, for a stable order.
    public static func reportFiles(in paths: [String]) throws(NodeReportError) -> [URL] {
        var files: [URL] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw NodeReportError(file: path, reason: "no such file or directory")
            }
            guard isDirectory.boolValue else { files.append(URL(fileURLWithPath: path)); continue }
            guard let walker = FileManager.default.enumerator(atPath: path) else {
                throw NodeReportError(file: path, reason: "cannot list the directory")
            }
            var found: [URL] = []
            while let relative = walker.nextObject() as? String {
                let name = (relative as NSString).lastPathComponent
                guard name.hasSuffix(".json"), ["results_", "soak_", "bench_recovery_"].contains(where: { name.hasPrefix($0) }) else { continue }
                found.append(URL(fileURLWithPath: path).appendingPathComponent(relative))
            }
            files += found.sorted { $0.path < $1.path }
        }
        return unique(files)
    }

    /// The same file named twice (a path and the directory that holds it) is one report.
    static func unique(_ files: [URL]) -> [URL] {
        var seen = Set<String>()
        return files.filter { seen.insert($0.resolvingSymlinksInPath().standardizedFileURL.path).inserted }
    }

    /// Reports with the same content (a copy of one report under another name) count once; the
    /// copies are named so the merge can say so.
    public static func distinct(_ reports: [NodeReport]) -> (reports: [NodeReport], duplicates: [String]) {
        var seen: [String: String] = [:], kept: [NodeReport] = [], duplicates: [String] = []
        for r in reports {
            if let first = seen[r.digest] {
                duplicates.append("\(r.file) (the same report as \(first))")
            } else {
                seen[r.digest] = r.file
                kept.append(r)
            }
        }
        return (kept, duplicates)
    }

    /// Reads every file; throws, naming every file it could not read, if any.
    public static func read(_ files: [URL]) throws(FleetInputError) -> [NodeReport] {
        var reports: [NodeReport] = [], errors: [NodeReportError] = []
        for url in files {
            do {
                if let r = try NodeReport.read(url) { reports.append(r) }
            } catch {
                errors.append(error)
            }
        }
        guard errors.isEmpty else { throw FleetInputError(errors: errors) }
        return reports
    }

    /// `expectNodes`: how many nodes should have reported; fewer fails the fleet (a node whose job
    /// never ran writes no report, and silence is not a pass).
    public static func merge(_ reports: [NodeReport], outlierFactor: Double, requireGPU: Bool, expectNodes: Int? = nil,
                             mergedAt: String) -> FleetReport {
        var fleet: [HistogramKey: BucketCounts] = [:]
        var contributors: [HistogramKey: Set<String>] = [:]
        var byNode: [String: [NodeReport]] = [:]
        var order: [String] = []
        for r in reports {
            if byNode[r.node] == nil { order.append(r.node) }
            byNode[r.node, default: []].append(r)
        }
        var nodes: [FleetReport.Node] = []
        var nodeMedians: [(node: String, key: HistogramKey, p50: Double)] = []
        for name in order.sorted() {
            let mine = byNode[name]!
            var counts: [HistogramKey: BucketCounts] = [:]
            for r in mine {
                for (h, b) in zip(r.histograms, r.buckets) {
                    counts[h.key, default: BucketCounts()].add(b)
                    fleet[h.key, default: BucketCounts()].add(b)
                    contributors[h.key, default: []].insert(name)
                }
            }
            let software = mine.contains(where: \.softwareVulkan)
            var reasons = mine.filter { !$0.pass }.flatMap { r in r.reasons.map { "\((r.file as NSString).lastPathComponent): \($0)" } }
            if requireGPU && software { reasons.append("ran on software Vulkan (--require-gpu)") }
            var gpus: [GPUIdentity] = []
            for g in mine.compactMap(\.host).flatMap(\.gpus) where !gpus.contains(where: { ($0.identity ?? $0.uuid) == (g.identity ?? g.uuid) && $0.name == g.name }) { gpus.append(g) }
            let latency = counts.keys.sorted().map { key -> FleetReport.NodeLatency in
                let p = counts[key]!.seconds(atPercentiles: [50, 99, 100]).map { $0 * 1000 }
                if outlierMetrics.contains(key.metric) { nodeMedians.append((name, key, p[0])) }
                return .init(metric: key.metric, scenario: key.scenario, strategy: key.strategy, isolation: key.isolation, step: key.step,
                             count: counts[key]!.total, p50Ms: p[0], p99Ms: p[1], maxMs: p[2])
            }
            let entries = mine.sorted { ($0.timestamp ?? "", $0.file) < ($1.timestamp ?? "", $1.file) }.map(FleetReport.Entry.init)
            var corruption = SilentCorruptionCount()
            for r in mine { corruption.add(r.corruption) }
            nodes.append(.init(node: name, pass: reasons.isEmpty, reasons: reasons,
                               hostnames: Array(Set(mine.compactMap(\.host?.hostname))).sorted(),
                               softwareVulkan: software, gpus: gpus, reports: entries, latency: latency,
                               silentCorruption: corruption.isEmpty ? nil : corruption))
        }
        let latency = fleet.keys.sorted().map { key -> FleetReport.Latency in
            let b = fleet[key]!
            let p = b.seconds(atPercentiles: [50, 90, 99, 99.9, 100]).map { $0 * 1000 }
            return .init(metric: key.metric, scenario: key.scenario, strategy: key.strategy, isolation: key.isolation, step: key.step,
                         count: b.total, nodes: contributors[key]?.count ?? 0, p50Ms: p[0], p90Ms: p[1], p99Ms: p[2], p999Ms: p[3], maxMs: p[4],
                         hdr: b.encoded)
        }
        let fleetP50 = Dictionary(uniqueKeysWithValues: latency.map { ($0.key, $0.p50Ms) })
        let outliers = nodeMedians.compactMap { entry -> FleetReport.Outlier? in
            guard let median = fleetP50[entry.key], median > 0, entry.p50 > outlierFactor * median else { return nil }
            return .init(node: entry.node, metric: entry.key.metric, scenario: entry.key.scenario, strategy: entry.key.strategy,
                         isolation: entry.key.isolation, step: entry.key.step, nodeP50Ms: entry.p50, fleetP50Ms: median, ratio: entry.p50 / median)
        }
        let failed = nodes.filter { !$0.pass }.map(\.node)
        let missing = expectNodes.map { max(0, $0 - nodes.count) } ?? 0
        let extra = expectNodes.map { max(0, nodes.count - $0) } ?? 0
        var summary = FleetReport.Summary(pass: !nodes.isEmpty && failed.isEmpty && missing == 0, nodes: nodes.count, expectedNodes: expectNodes,
                                          missingNodes: missing, nodesPassed: nodes.count - failed.count,
                                          failedNodes: failed, reports: reports.count,
                                          softwareVulkanNodes: nodes.filter(\.softwareVulkan).map(\.node),
                                          outlierNodes: Array(Set(outliers.map(\.node))).sorted(),
                                          silentCorruptionNodes: nodes.filter { ($0.silentCorruption?.unplanned ?? 0) > 0 || ($0.silentCorruption?.wrongServed ?? 0) > 0 }.map(\.node))
        summary.unexpectedNodes = extra > 0 ? extra : nil
        return FleetReport(mergedAt: mergedAt, outlierFactor: outlierFactor, requireGPU: requireGPU, summary: summary,
                           nodes: nodes, latency: latency, outliers: outliers)
    }
}

/// Reports that could not be merged, each named with why (exit 65).
public struct FleetInputError: Error, CustomStringConvertible {
    public let errors: [NodeReportError]
    public var description: String {
        (errors.count == 1 ? "cannot merge " : "cannot merge \(errors.count) reports:\n  ") + errors.map(\.description).joined(separator: "\n  ")
    }
}
