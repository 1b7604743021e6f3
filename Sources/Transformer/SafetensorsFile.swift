// SafetensorsFile: parses and validates a safetensors header. Kept apart from the loader so
// it can be fuzzed: any byte string must either parse or throw `.malformedSafetensors`.
//
// Layout: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data section; offsets are relative to the data section's start (8 + N).

import Foundation

public struct SafetensorsFile: Sendable {
    /// The dtypes of the safetensors format, with their element sizes.
    public enum DType: String, Sendable, CaseIterable, Hashable {
        case bool = "BOOL", u8 = "U8", i8 = "I8", f8e5m2 = "F8_E5M2", f8e4m3 = "F8_E4M3"
        case i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16"
        case i32 = "I32", u32 = "U32", f32 = "F32", f64 = "F64", i64 = "I64", u64 = "U64"

        public var elementSize: Int {
            switch self {
            case .bool, .u8, .i8, .f8e5m2, .f8e4m3: return 1
            case .i16, .u16, .f16, .bf16: return 2
            case .i32, .u32, .f32: return 4
            case .f64, .i64, .u64: return 8
            }
        }

        /// Floating-point dtypes the loader converts to F32.
        public var isConvertibleToF32: Bool { [.f32, .f16, .bf16, .f64].contains(self) }
    }

    /// One tensor's header entry.
    public struct Entry: Sendable, Hashable {
        public let name: String
        /// The dtype string as written (an unknown one is kept; the loader rejects it if needed).
        public let dtypeName: String
        public let shape: [Int]
        /// Absolute byte range within the file.
        public let byteRange: Range<Int>

        public var dtype: DType? { DType(rawValue: dtypeName) }
        public var elementCount: Int { shape.reduce(1, *) }
    }

    /// Header sizes above this are rejected, as the reference implementation does.
    public static let maximumHeaderLength = 100_000_000

    public let path: String
    public let fileSize: Int
    public let headerLength: Int
    /// Start of the data section: 8 + headerLength.
    public var dataStart: Int { 8 + headerLength }
    /// Entries sorted by their position in the file.
    public let entries: [Entry]
    public let metadata: [String: String]
    private let index: [String: Int]

    public subscript(name: String) -> Entry? { index[name].map { entries[$0] } }

    /// Parses a whole file's bytes (only the header is read; the data section is checked
    /// against the offsets but not touched).
    public init(data: Data, path: String = "model.safetensors") throws {
        self = try data.withUnsafeBytes { try SafetensorsFile(bytes: $0, path: path) }
    }

    /// Parses a file held in memory (e.g. mapped). `path` is only used in messages.
    public init(bytes: UnsafeRawBufferPointer, path: String) throws {
        func fail(_ reason: String) -> ModelDataError { .malformedSafetensors(path: path, reason: reason) }

        self.path = path
        fileSize = bytes.count
        guard bytes.count >= 8 else {
            throw fail("file is \(bytes.count) bytes, shorter than the 8-byte header length")
        }
        var length: UInt64 = 0
        for offset in (0..<8).reversed() { length = length << 8 | UInt64(bytes[offset]) }
        guard length <= UInt64(Self.maximumHeaderLength) else {
            throw fail("header length \(length) exceeds the \(Self.maximumHeaderLength)-byte limit")
        }
        guard length <= UInt64(bytes.count - 8) else {
            throw fail("header length \(length) runs past the end of the \(bytes.count)-byte file (truncated?)")
        }
        headerLength = Int(length)
        guard headerLength >= 2, bytes[8] == UInt8(ascii: "{") else {
            throw fail("header does not start with a JSON object")
        }
        let headerBytes = Data(bytes[8..<8 + headerLength])
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: headerBytes)
        } catch {
            throw fail("header is not valid JSON")
        }
        guard let header = object as? [String: Any] else { throw fail("header is not a JSON object") }

        let dataSize = bytes.count - 8 - headerLength
        var parsed: [Entry] = []
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let fields = value as? [String: Any] else { throw fail("__metadata__ is not an object") }
                for (key, field) in fields {
                    guard let string = field as? String else { throw fail("__metadata__ value \"\(key)\" is not a string") }
                    metadata[key] = string
                }
                continue
            }
            parsed.append(try Self.parseEntry(name: name, value: value, dataStart: 8 + headerLength,
                                              dataSize: dataSize, fail: fail))
        }
        parsed.sort { ($0.byteRange.lowerBound, $0.byteRange.upperBound, $0.name) < ($1.byteRange.lowerBound, $1.byteRange.upperBound, $1.name) }
        // Tensors may not share bytes, and (as the format requires) they cover the data section
        // exactly: a header length that is off by a byte shifts every tensor and leaves a byte
        // over at one end, which is caught here rather than read as subtly wrong weights.
        var end = 8 + headerLength
        for entry in parsed where !entry.byteRange.isEmpty {
            guard entry.byteRange.lowerBound >= end else {
                throw fail("tensor \"\(entry.name)\" overlaps the previous tensor's data")
            }
            guard entry.byteRange.lowerBound == end else {
                throw fail("\(entry.byteRange.lowerBound - end) unused byte(s) before tensor \"\(entry.name)\" (a wrong header length or data_offsets)")
            }
            end = entry.byteRange.upperBound
        }
        guard end == bytes.count else {
            throw fail("\(bytes.count - end) byte(s) after the last tensor's data (a wrong header length, or a truncated header)")
        }
        entries = parsed
        self.metadata = metadata
        var index: [String: Int] = [:]
        for (position, entry) in parsed.enumerated() { index[entry.name] = position }
        self.index = index
    }

    private static func parseEntry(name: String, value: Any, dataStart: Int, dataSize: Int,
                                   fail: (String) -> ModelDataError) throws -> Entry {
        guard let fields = value as? [String: Any] else { throw fail("entry \"\(name)\" is not an object") }
        guard let dtypeName = fields["dtype"] as? String else { throw fail("tensor \"\(name)\" has no dtype string") }
        guard let shapeValues = fields["shape"] as? [Any] else { throw fail("tensor \"\(name)\" has no shape array") }
        guard let offsetValues = fields["data_offsets"] as? [Any], offsetValues.count == 2 else {
            throw fail("tensor \"\(name)\" has no [begin, end] data_offsets")
        }
        var shape: [Int] = []
        var count = 1
        for value in shapeValues {
            guard let dimension = nonNegativeInt(value) else { throw fail("tensor \"\(name)\" has a bad shape \(shapeValues)") }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw fail("tensor \"\(name)\" has an absurd shape \(shapeValues)") }
            shape.append(dimension)
            count = product
        }
        guard let begin = nonNegativeInt(offsetValues[0]), let end = nonNegativeInt(offsetValues[1]) else {
            throw fail("tensor \"\(name)\" has non-integer data_offsets")
        }
        guard begin <= end, end <= dataSize else {
            throw fail("tensor \"\(name)\" data_offsets [\(begin), \(end)] out of range of the \(dataSize)-byte data section")
        }
        if let dtype = DType(rawValue: dtypeName) {
            let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.elementSize)
            guard !overflow, bytes == end - begin else {
                throw fail("tensor \"\(name)\" spans \(end - begin) bytes but \(dtypeName) \(shape) needs \(overflow ? "too many" : String(bytes))")
            }
        }
        return Entry(name: name, dtypeName: dtypeName, shape: shape, byteRange: (dataStart + begin)..<(dataStart + end))
    }

    /// A JSON number that is a non-negative integer (not a boolean, not fractional).
    private static func nonNegativeInt(_ value: Any) -> Int? {
        guard let number = value as? NSNumber, String(cString: number.objCType) != "c" else { return nil }
        let double = number.doubleValue
        guard double >= 0, double < 0x1p53, double.rounded() == double else { return nil }
        // Large integers come back exact as Int64; prefer that over the double.
        let integer = number.int64Value
        guard integer >= 0, Double(integer) == double else { return nil }
        return Int(integer)
    }
}
