import Histogram

/// Latencies in microseconds, recorded into an HdrHistogram in the one configuration every
/// poolfault report uses (1 µs to 1 h, 3 significant digits), so any two merge bucket for bucket.
public struct LatencyHistogram: Sendable {
    public static let layout = HdrEncoding.BucketLayout(lowest: 1, digits: 3)
    public static let highestTrackableValue: UInt64 = 3_600_000_000

    public private(set) var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: highestTrackableValue,
                                                         numberOfSignificantValueDigits: .three)

    public init() {}

    /// The microseconds a duration in seconds is recorded as: rounded to the nearest µs, so the
    /// seconds a report prints and the bucket they land in agree. Longer than an hour records an hour.
    public static func microseconds(_ seconds: Double) -> UInt64 {
        guard seconds.isFinite, seconds > 0 else { return 0 }
        return UInt64(min((seconds * 1e6).rounded(), Double(highestTrackableValue)))
    }

    public mutating func record(seconds: Double) {
        histogram.record(Self.microseconds(seconds))
    }

    public var count: UInt64 { histogram.totalCount }

    /// The report form: HdrHistogram's compressed V2 encoding, base64.
    public var encoded: String { HdrEncoding.encode(histogram) }

    /// Its buckets, to merge or to take percentiles from the way a merged histogram does.
    public var buckets: BucketCounts {
        var counts = BucketCounts()
        for v in histogram.recordedValues() where v.count > 0 { counts.add(index: Self.layout.index(of: v.value), count: v.count) }
        return counts
    }
}

/// Counts by HdrHistogram bucket (the LatencyHistogram layout), kept sparse: what a merge adds.
/// Adding two is exact — the sum is bucket for bucket the histogram of both sets of samples —
/// so fleet percentiles are the percentiles of every sample pooled, never an average of
/// percentiles.
public struct BucketCounts: Sendable, Equatable {
    public private(set) var counts: [Int: UInt64] = [:]
    public private(set) var total: UInt64 = 0

    public init() {}

    /// An encoded histogram's buckets. Refuses a histogram of another layout, which would not add exactly.
    public init(encoded: String) throws(HdrEncoding.DecodeError) {
        let decoded = try HdrEncoding.decode(encoded)
        guard decoded.layout == LatencyHistogram.layout else {
            throw .badPayload("layout \(decoded.layout.digits) digits from \(decoded.layout.lowest) µs, not poolfault's 3 digits from 1 µs")
        }
        for b in decoded.buckets { add(index: b.index, count: b.count) }
    }

    public mutating func add(index: Int, count: UInt64) {
        counts[index, default: 0] += count
        total += count
    }

    public mutating func add(_ other: BucketCounts) {
        for (index, count) in other.counts { add(index: index, count: count) }
    }

    /// HdrHistogram's value at a percentile (0–100), in seconds: the highest value equivalent to
    /// the bucket holding the nearest-rank sample, so the true sample lies within 0.1 % below it.
    /// 0 when empty.
    public func seconds(atPercentile p: Double) -> Double { seconds(atPercentiles: [p])[0] }

    /// Several percentiles, in the order given, from one sort of the buckets and one pass.
    public func seconds(atPercentiles ps: [Double]) -> [Double] {
        guard total > 0 else { return ps.map { _ in 0 } }
        let ranks = ps.map { p in p >= 100 ? total : max(1, UInt64((min(max(p.nextDown, 0), 100) * Double(total) / 100).rounded(.up))) }
        var out = [Double](repeating: 0, count: ps.count)
        let wanted = ranks.indices.sorted { ranks[$0] < ranks[$1] }
        var next = 0, seen: UInt64 = 0
        for index in counts.keys.sorted() where next < wanted.count {
            seen += counts[index]!
            while next < wanted.count, seen >= ranks[wanted[next]] {
                out[wanted[next]] = Double(LatencyHistogram.layout.highestEquivalent(at: index)) / 1e6
                next += 1
            }
        }
        return out
    }

    public var encoded: String {
        HdrEncoding.encode(buckets: counts.keys.sorted().map { ($0, counts[$0]!) }, layout: LatencyHistogram.layout,
                           highestTrackableValue: LatencyHistogram.highestTrackableValue)
    }
}
