// HdrEncoding: the standard HdrHistogram V2 compressed encoding. Round trips bucket for bucket
// over seeds and shapes; percentiles are HdrHistogram's (the nearest-rank sample lies in the
// reported value's bucket); Python's `hdrh` (HdrHistogram's Python port) reads what we write
// and we read what it writes; corrupt input throws, never traps.

import Foundation
import Testing
@testable import FaultTest
import Transformer

@Suite struct HdrEncodingTests {
    /// Durations in seconds, drawn with `seed` in one of several shapes.
    static func samples(seed: UInt64, shape: Int, count: Int) -> [Double] {
        var rng = Xoshiro256StarStar(seed: seed)
        return (0..<count).map { _ in
            let u = rng.unit()
            switch shape {
            case 0: return pow(10, -6 + 9.5 * u)              // 1 µs … ~50 min, log-uniform
            case 1: return 0.002 + 0.0005 * u                 // a tight cluster around 2 ms
            case 2: return u < 0.99 ? 0.001 * (1 + u) : 5 + 100 * u  // a heavy tail
            default: return 0.000_3                           // one value
            }
        }
    }

    @Test(arguments: Array(1...6), [0, 1, 2, 3])
    func roundTripsBucketForBucket(seed: Int, shape: Int) throws {
        var h = LatencyHistogram()
        for s in Self.samples(seed: UInt64(seed), shape: shape, count: 40 * seed * seed) { h.record(seconds: s) }
        let decoded = try BucketCounts(encoded: h.encoded)
        #expect(decoded == h.buckets)
        #expect(decoded.total == h.count)
        // And the re-encoding of what was decoded reads back the same.
        #expect(try BucketCounts(encoded: decoded.encoded) == decoded)
    }

    @Test(arguments: Array(1...8))
    func percentilesHoldTheNearestRankSample(seed: Int) throws {
        let raw = Self.samples(seed: UInt64(seed), shape: seed % 3, count: 500 + 250 * seed)
        var h = LatencyHistogram()
        for s in raw { h.record(seconds: s) }
        let sorted = raw.map(LatencyHistogram.microseconds).sorted()
        let buckets = try BucketCounts(encoded: h.encoded)
        let layout = LatencyHistogram.layout
        for p in [0.1, 1, 10, 50, 90, 99, 99.9, 100] {
            // Nearest rank, ⌈p·n/100⌉, without the float error of 99.9 × 2000 / 100 = 1998.0000000000002.
            let rank = max(1, Int((p / 100 * Double(sorted.count) - 1e-9).rounded(.up)))
            let truth = sorted[rank - 1]
            let reported = UInt64((buckets.seconds(atPercentile: p) * 1e6).rounded())
            #expect(layout.index(of: reported) == layout.index(of: truth), "p\(p): \(reported) µs is not \(truth) µs's bucket")
            #expect(reported >= truth && Double(reported - truth) <= max(1, Double(truth) * 0.001), "p\(p) \(reported) vs \(truth)")
        }
    }

    @Test func layoutMatchesHdrHistogramsOwnBuckets() {
        var h = LatencyHistogram()
        let values: [UInt64] = [0, 1, 2047, 2048, 2049, 4095, 4096, 1_000_000, 3_600_000_000]
        for v in values { h.record(seconds: Double(v) / 1e6) }
        // Our index → value mapping puts every recorded bucket back where HdrHistogram keeps it.
        for v in h.histogram.recordedValues() where v.count > 0 {
            let index = LatencyHistogram.layout.index(of: v.value)
            #expect(h.histogram.valuesAreEquivalent(LatencyHistogram.layout.value(at: index), v.value))
            #expect(LatencyHistogram.layout.highestEquivalent(at: index) == h.histogram.highestEquivalentForValue(v.value))
        }
    }

    @Test func pythonHdrhReadsOursAndWeReadItsOwn() throws {
        var h = LatencyHistogram()
        for s in Self.samples(seed: 7, shape: 0, count: 3000) { h.record(seconds: s) }
        let script = """
            import sys
            try:
                from hdrh.histogram import HdrHistogram
            except ImportError:
                print("the python3 module hdrh is missing: pip install hdrhistogram (ci/install-deps does)"); sys.exit(3)
            ours = HdrHistogram.decode(sys.argv[1])
            print(ours.get_total_count(), *[ours.get_value_at_percentile(p) for p in (50, 90, 99, 99.9)])
            theirs = HdrHistogram(1, 3600000000, 3)
            for v in range(1, 200000, 7): theirs.record_value(v * v % 3000000 + 1)
            print(theirs.encode().decode(), theirs.get_total_count(), *[theirs.get_value_at_percentile(p) for p in (50, 90, 99)])
            """
        let out = try Python.run(script, arguments: [h.encoded])
        guard out.status == 0 else {
            Issue.record("python3 + hdrh could not run (status \(out.status)): \(out.output)")
            return
        }
        let lines = out.output.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        try #require(lines.count == 2)
        let ours = try BucketCounts(encoded: h.encoded)
        #expect(UInt64(lines[0][0]) == ours.total)
        for (i, p) in [50.0, 90, 99, 99.9].enumerated() {
            #expect(UInt64(lines[0][i + 1]) == UInt64((ours.seconds(atPercentile: p) * 1e6).rounded()), "p\(p)")
        }
        let theirs = try BucketCounts(encoded: lines[1][0])
        #expect(theirs.total == UInt64(lines[1][1]))
        for (i, p) in [50.0, 90, 99].enumerated() {
            #expect(UInt64((theirs.seconds(atPercentile: p) * 1e6).rounded()) == UInt64(lines[1][i + 2]), "their p\(p)")
        }
    }

    @Test(arguments: Array(1...4))
    func corruptEncodingsThrowAndNeverTrap(seed: Int) throws {
        var h = LatencyHistogram()
        for s in Self.samples(seed: UInt64(seed), shape: 0, count: 200) { h.record(seconds: s) }
        let good = [UInt8](Data(base64Encoded: h.encoded)!)
        for bad in ["", "not base64!", "SElTVA==", Data(good.prefix(good.count / 2)).base64EncodedString()] {
            #expect(throws: HdrEncoding.DecodeError.self) { try BucketCounts(encoded: bad) }
        }
        // A deflate stream cut short, its length fixed up so that inflating meets the early end
        // (this once spun forever inside ZIPFoundation).
        var cut = Array(good.prefix(8 + (good.count - 8) * seed / 5))
        let length = UInt32(cut.count - 8)
        cut[4] = UInt8(length >> 24); cut[5] = UInt8(length >> 16 & 0xff); cut[6] = UInt8(length >> 8 & 0xff); cut[7] = UInt8(length & 0xff)
        #expect(throws: HdrEncoding.DecodeError.self) { try BucketCounts(encoded: Data(cut).base64EncodedString()) }
        var rng = Xoshiro256StarStar(seed: UInt64(seed))
        var rejected = 0
        for _ in 0..<2000 {
            var bytes = good
            for _ in 0...rng.nextInt(below: 3) { bytes[rng.nextInt(below: bytes.count)] ^= UInt8(1 + rng.nextInt(below: 255)) }
            do { _ = try BucketCounts(encoded: Data(bytes).base64EncodedString()) } catch { rejected += 1 }
        }
        // The Adler-32 and length checks catch nearly every flipped byte.
        #expect(rejected > 1800)
    }
}

/// python3 with a script, for cross-checks against reference implementations.
enum Python {
    static func run(_ script: String, arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

extension Xoshiro256StarStar {
    /// Uniform in [0, 1) with 53 random bits.
    mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
}
