import Foundation
import Histogram
import ZIPFoundation

/// HdrHistogram's standard V2 encoding, compressed, as base64: the form HdrHistogram's own
/// implementations (Java, C, Python's `hdrh`, Go, Rust) write into histogram logs and read back
/// with `decodeFromCompressedByteBuffer`. Reports carry their latency histograms in it, so a fleet
/// merge adds bucket counts (exact) instead of averaging percentiles, and any HdrHistogram tool
/// can read a poolfault report's histograms.
///
/// Layout (big-endian): cookie 0x1c849314, compressed length, then zlib-deflated
/// [cookie 0x1c849313, payload length, normalizing index offset, significant digits,
/// lowest discernible value (8), highest trackable value (8), integer-to-double ratio (8),
/// payload]; the payload is the counts array, index order, each count ZigZag-LEB128 (at most
/// 9 bytes), a run of N > 1 empty buckets written as -N.
///
/// Written here rather than taken from hdrhistogram-swift because that package (0.2.0) has no
/// serialization but Swift's Codable (its whole counts array, tens of thousands of numbers per
/// histogram, in a format no other HdrHistogram reads).
public enum HdrEncoding {
    static let cookie: UInt32 = 0x1c84_9313
    static let compressedCookie: UInt32 = 0x1c84_9314
    static let headerSize = 40

    public enum DecodeError: Error, CustomStringConvertible {
        case notBase64, tooShort, badCookie(UInt32), badZlib(String), badPayload(String)
        public var description: String {
            switch self {
            case .notBase64: return "not base64"
            case .tooShort: return "shorter than an HdrHistogram header"
            case .badCookie(let c): return String(format: "cookie 0x%08x is not HdrHistogram's compressed V2 encoding", c)
            case .badZlib(let why): return "compressed payload unreadable: \(why)"
            case .badPayload(let why): return "counts unreadable: \(why)"
            }
        }
    }

    /// The histogram in compressed V2 encoding, base64.
    public static func encode(_ histogram: Histogram<UInt64>) -> String {
        let layout = BucketLayout(lowest: histogram.lowestDiscernibleValue, digits: Int(histogram.numberOfSignificantValueDigits.rawValue))
        let buckets = histogram.recordedValues().filter { $0.count > 0 }.map { (index: layout.index(of: $0.value), count: $0.count) }
        return encode(buckets: buckets, layout: layout, highestTrackableValue: histogram.highestTrackableValue)
    }

    /// Counts by counts-array index (ascending, non-zero) in compressed V2 encoding, base64.
    public static func encode(buckets: [(index: Int, count: UInt64)], layout: BucketLayout, highestTrackableValue: UInt64) -> String {
        var payload = Data()
        var nextIndex = 0
        for bucket in buckets {
            let gap = bucket.index - nextIndex
            if gap == 1 { putZigZag(0, into: &payload) }
            if gap > 1 { putZigZag(-Int64(gap), into: &payload) }
            putZigZag(Int64(bucket.count), into: &payload)
            nextIndex = bucket.index + 1
        }
        var plain = Data()
        put(cookie, into: &plain)
        put(UInt32(payload.count), into: &plain)
        put(UInt32(0), into: &plain)  // normalizing index offset
        put(UInt32(layout.digits), into: &plain)
        put(layout.lowest, into: &plain)
        put(highestTrackableValue, into: &plain)
        put((1.0).bitPattern, into: &plain)  // integer-to-double conversion ratio
        plain.append(payload)
        let deflated = zlibDeflate(plain)
        var out = Data()
        put(compressedCookie, into: &out)
        put(UInt32(deflated.count), into: &out)
        out.append(deflated)
        return out.base64EncodedString()
    }

    /// An encoded histogram's configuration and non-zero counts by index, ascending.
    public struct Decoded {
        public let layout: BucketLayout
        public let highestTrackableValue: UInt64
        public let buckets: [(index: Int, count: UInt64)]
        public var totalCount: UInt64 { buckets.reduce(0) { $0 + $1.count } }
    }

    public static func decode(_ base64: String) throws(DecodeError) -> Decoded {
        guard let data = Data(base64Encoded: base64) else { throw .notBase64 }
        let bytes = [UInt8](data)
        guard bytes.count >= 8 else { throw .tooShort }
        let outer = readUInt32(bytes, 0)
        guard outer == compressedCookie else { throw .badCookie(outer) }
        let length = Int(readUInt32(bytes, 4))
        guard length <= bytes.count - 8 else { throw .tooShort }
        let plain = try zlibInflate(Array(bytes[8..<(8 + length)]))
        guard plain.count >= headerSize else { throw .tooShort }
        let inner = readUInt32(plain, 0)
        guard inner == cookie else { throw .badCookie(inner) }
        let payloadLength = Int(readUInt32(plain, 4))
        let offset = readUInt32(plain, 8)
        let digits = Int(readUInt32(plain, 12))
        let lowest = readUInt64(plain, 16)
        let highest = readUInt64(plain, 24)
        guard payloadLength <= plain.count - headerSize else { throw .badPayload("payload length \(payloadLength) beyond the data") }
        guard offset == 0, (0...5).contains(digits), lowest >= 1, lowest <= highest / 2 else {
            throw .badPayload("configuration (\(digits) digits, values \(lowest)...\(highest), index offset \(offset)) is not a histogram's")
        }
        let layout = BucketLayout(lowest: lowest, digits: digits)
        let indexLimit = layout.countsLength(highest)
        var cursor = headerSize, index = 0
        var buckets: [(index: Int, count: UInt64)] = []
        let end = headerSize + payloadLength
        while cursor < end {
            let count = try readZigZag(plain, &cursor, end: end)
            if count < 0 { index += Int(clamping: -count); continue }
            guard index < indexLimit else { throw .badPayload("bucket \(index) beyond the histogram's \(indexLimit)") }
            if count > 0 { buckets.append((index, UInt64(count))) }
            index += 1
        }
        return Decoded(layout: layout, highestTrackableValue: highest, buckets: buckets)
    }

    /// HdrHistogram's bucket geometry (the same formulas as every implementation's): which
    /// counts-array index a value falls in, and the lowest value of an index.
    public struct BucketLayout: Equatable, Sendable {
        public let lowest: UInt64
        public let digits: Int
        let unitMagnitude: Int
        let subBucketHalfCountMagnitude: Int
        var subBucketHalfCount: Int { 1 << subBucketHalfCountMagnitude }

        public init(lowest: UInt64, digits: Int) {
            self.lowest = lowest; self.digits = digits
            unitMagnitude = Int(Double.log2(Double(lowest)))
            let largest = 2 * Double.pow(10.0, digits)
            let subBucketCountMagnitude = Int(Double.log2(largest).rounded(.up))
            subBucketHalfCountMagnitude = max(subBucketCountMagnitude, 1) - 1
        }

        /// The counts array's length for values up to `highest`.
        func countsLength(_ highest: UInt64) -> Int { index(of: highest) + 1 }

        /// The highest value in the same bucket as the value at `index` (what HdrHistogram's
        /// percentiles report).
        func highestEquivalent(at index: Int) -> UInt64 {
            let lowest = value(at: index)
            let bucket = Swift.max(0, (index >> subBucketHalfCountMagnitude) - 1)
            return lowest + (UInt64(1) << UInt64(bucket + unitMagnitude)) - 1
        }

        public func index(of value: UInt64) -> Int {
            let subBucketMask = UInt64((1 << (subBucketHalfCountMagnitude + 1)) - 1) << unitMagnitude
            let leadingZeroCountBase = 64 - unitMagnitude - (subBucketHalfCountMagnitude + 1)
            let bucket = leadingZeroCountBase - (value | subBucketMask).leadingZeroBitCount
            let subBucket = Int(value >> UInt64(bucket + unitMagnitude))
            return ((bucket + 1) << subBucketHalfCountMagnitude) + (subBucket - subBucketHalfCount)
        }

        public func value(at index: Int) -> UInt64 {
            var bucket = (index >> subBucketHalfCountMagnitude) - 1
            var subBucket = (index & (subBucketHalfCount - 1)) + subBucketHalfCount
            if bucket < 0 { subBucket -= subBucketHalfCount; bucket = 0 }
            return UInt64(subBucket) << UInt64(bucket + unitMagnitude)
        }
    }

    // MARK: bytes

    static func put<T: FixedWidthInteger>(_ value: T, into data: inout Data) {
        withUnsafeBytes(of: value.bigEndian) { data.append(contentsOf: $0) }
    }
    static func readUInt32(_ b: [UInt8], _ at: Int) -> UInt32 { b[at..<(at + 4)].reduce(0) { $0 << 8 | UInt32($1) } }
    static func readUInt64(_ b: [UInt8], _ at: Int) -> UInt64 { b[at..<(at + 8)].reduce(0) { $0 << 8 | UInt64($1) } }

    /// HdrHistogram's ZigZag LEB128: 7 bits a byte, the ninth byte carrying a full 8.
    static func putZigZag(_ signed: Int64, into data: inout Data) {
        var v = UInt64(bitPattern: (signed << 1) ^ (signed >> 63))
        for _ in 0..<8 {
            if v >> 7 == 0 { data.append(UInt8(v)); return }
            data.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        data.append(UInt8(truncatingIfNeeded: v))
    }

    static func readZigZag(_ b: [UInt8], _ cursor: inout Int, end: Int) throws(DecodeError) -> Int64 {
        var v: UInt64 = 0
        for i in 0..<9 {
            guard cursor < end else { throw .badPayload("a count runs past the payload") }
            let byte = b[cursor]; cursor += 1
            if i == 8 { v |= UInt64(byte) << 56; break }
            v |= UInt64(byte & 0x7f) << UInt64(7 * i)
            if byte & 0x80 == 0 { break }
        }
        return Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1)
    }

    // MARK: zlib framing around ZIPFoundation's raw deflate (RFC 1950: header, Adler-32 trailer)

    static func zlibDeflate(_ plain: Data) -> Data {
        var out = Data([0x78, 0x9c])
        // Raw deflate of an in-memory buffer: the provider and consumer never throw.
        _ = try? Data.compress(size: Int64(plain.count), bufferSize: 64 * 1024, provider: { position, size in
            plain.subdata(in: Int(position)..<(Int(position) + size))
        }, consumer: { out.append($0) })
        put(adler32(plain), into: &out)
        return out
    }

    static func zlibInflate(_ bytes: [UInt8]) throws(DecodeError) -> [UInt8] {
        guard bytes.count >= 6, bytes[0] & 0x0f == 8, (UInt16(bytes[0]) << 8 | UInt16(bytes[1])) % 31 == 0, bytes[1] & 0x20 == 0 else {
            throw .badZlib("no zlib header")
        }
        let raw = Data(bytes[2..<(bytes.count - 4)])
        var out = Data()
        do {
            // One chunk, exactly the buffer size: ZIPFoundation (0.9.20) tells zlib a whole buffer
            // is available whatever the chunk's length, so a shorter chunk would let zlib read
            // past it. The provider throws once the input is spent: for a stream that never ends
            // (a corrupt one) ZIPFoundation would ask for more forever. The consumer bounds the
            // output (a counts array is at most ~200 KiB).
            _ = try Data.decompress(size: Int64(raw.count), bufferSize: max(1, raw.count), skipCRC32: true, provider: { position, size in
                guard position < raw.count else { throw DecodeError.badZlib("the compressed stream ends early") }
                return raw.subdata(in: Int(position)..<min(raw.count, Int(position) + size))
            }, consumer: { chunk in
                out.append(chunk)
                guard out.count <= 4 << 20 else { throw DecodeError.badZlib("inflates past 4 MiB: not a histogram") }
            })
        } catch let error as DecodeError {
            throw error
        } catch {
            throw .badZlib("\(error)")
        }
        let plain = [UInt8](out)
        guard readUInt32(bytes, bytes.count - 4) == adler32(out) else { throw .badZlib("Adler-32 checksum mismatch") }
        return plain
    }

    static func adler32(_ data: Data) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for chunk in stride(from: 0, to: data.count, by: 5552) {
            for byte in data[data.startIndex + chunk..<data.startIndex + min(data.count, chunk + 5552)] {
                a += UInt32(byte); b += a
            }
            a %= 65521; b %= 65521
        }
        return b << 16 | a
    }
}
