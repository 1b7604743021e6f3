/// One latency histogram as a report carries it: what was timed (metric, scenario, strategy,
/// isolation, and the recovery step or soak window), a few percentiles for people, and the
/// HdrHistogram itself (`hdr`, HdrEncoding) for `poolfault report merge`, which adds the
/// buckets of every node's histogram of the same key — exact fleet percentiles.
public struct ReportHistogram: Codable, Sendable, Equatable {
    /// "detection" (fault → the pool knew), "recovery" (a successful recovery, end to end),
    /// "recovery_step" (one step's total in a recovery), "request" (a soak request).
    public var metric: String
    public var scenario: String
    public var strategy: String?
    public var isolation: String?
    /// The recovery step ("weight_upload", …) or the soak window ("before", "during", "after").
    public var step: String?
    /// Always "us": every histogram records microseconds (LatencyHistogram).
    public var unit: String
    public var count: UInt64
    public var p50Ms: Double
    public var p99Ms: Double
    public var maxMs: Double
    /// HdrHistogram V2, compressed, base64 (what `HdrHistogram.decodeFromCompressedByteBuffer` reads).
    public var hdr: String

    public init(metric: String, scenario: String, strategy: String?, isolation: String?, step: String? = nil, buckets: BucketCounts) {
        self.metric = metric; self.scenario = scenario; self.strategy = strategy; self.isolation = isolation; self.step = step
        unit = "us"
        count = buckets.total
        let p = buckets.seconds(atPercentiles: [50, 99, 100]).map { $0 * 1000 }
        p50Ms = p[0]; p99Ms = p[1]; maxMs = p[2]
        hdr = buckets.encoded
    }

    /// What a merge adds histograms by: the same metric of the same scenario, strategy,
    /// isolation and step.
    public var key: HistogramKey { HistogramKey(metric: metric, scenario: scenario, strategy: strategy, isolation: isolation, step: step) }
}

public struct HistogramKey: Hashable, Comparable, Sendable, Codable {
    public var metric: String
    public var scenario: String
    public var strategy: String?
    public var isolation: String?
    public var step: String?

    public init(metric: String, scenario: String, strategy: String?, isolation: String?, step: String? = nil) {
        self.metric = metric; self.scenario = scenario; self.strategy = strategy; self.isolation = isolation; self.step = step
    }

    var sortKey: [String] {
        [scenario, strategy ?? "", isolation ?? "", ["detection", "recovery", "recovery_step", "request"].firstIndex(of: metric).map(String.init) ?? metric, step ?? ""]
    }
    public static func < (a: Self, b: Self) -> Bool { a.sortKey.lexicographicallyPrecedes(b.sortKey) }

    /// "recovery · browser_crash/progressive (process)", "step weight_upload · …" for tables.
    public var label: String {
        var s = "\(metric == "recovery_step" ? "step \(step ?? "?")" : metric) · \(scenario)"
        if let strategy { s += "/\(strategy)" }
        if let isolation { s += " (\(isolation))" }
        if metric == "request", let step { s += " [\(step)]" }
        return s
    }
}

/// Collects durations by key, then writes them out as ReportHistograms in a stable order.
public struct HistogramSet: Sendable {
    private var byKey: [HistogramKey: LatencyHistogram] = [:]

    public init() {}

    public mutating func record(_ key: HistogramKey, seconds: Double) {
        byKey[key, default: LatencyHistogram()].record(seconds: seconds)
    }

    public var histograms: [ReportHistogram] {
        byKey.keys.sorted().map { key in
            ReportHistogram(metric: key.metric, scenario: key.scenario, strategy: key.strategy, isolation: key.isolation,
                            step: key.step, buckets: byKey[key]!.buckets)
        }
    }
}
