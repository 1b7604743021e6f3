// InputTensors: the named arrays a Hugging Face user holds for one inference, read from the
// files they have: `.npz` (what `np.savez(f, **tokenizer(..., return_tensors="np"))` or an
// image processor's output gives; stored or deflated), `.npy` (one tensor: `input_ids` when
// integer, `pixel_values` when float), `.safetensors` with HF names, and JSON (nested arrays,
// or `{"shape": [...], "data": [...]}` per name, or flat arrays with a top-level `"shape"`).
// Any NumPy integer dtype for ids; F16/F32/F64 for pixels. Every failure is bad input (exit 65)
// naming the file and the reason. An input is untrusted: sizes are checked against what the
// file declares and against `limit` before anything is allocated or inflated, and bytes past
// what a header declares are refused.

import Foundation
import ZIPFoundation

public struct InputTensor: Sendable, Equatable {
    public var shape: [Int]
    /// The values as doubles (exact for every id a vocabulary holds, and for F32 pixels).
    public var values: [Double]
    /// Stored as floating point (a dtype the file names; JSON numbers are neither, so nil).
    public var isFloat: Bool? = nil
}

/// What an input file held: its numeric tensors, and the names it held that are not (strings,
/// objects, scalars), which are ignored.
public struct InputFile: Sendable {
    public var tensors: [String: InputTensor]
    public var skipped: [String]
}

public enum InputTensors {
    /// The most an input file may be, and the most its arrays may declare or inflate to:
    /// far above any model input (ViT's pixels are 1.2 MB as float64), far below what a
    /// crafted header could make a reader allocate.
    public static let limit = 256 << 20

    /// Reads `url` by its extension (`.npz`, `.npy`, `.safetensors`, else JSON).
    public static func read(_ url: URL) throws -> [String: InputTensor] { try readFile(url).tensors }

    /// As `read`, with the names that were not numeric tensors.
    public static func readFile(_ url: URL) throws -> InputFile {
        let source = url.path
        let data = try FileAccess.read(url, what: "the --input file", limit: limit)
        switch url.pathExtension.lowercased() {
        case "npz": return try npz(data, source: source)
        case "npy":
            let tensor = try npy(data, source: source)
            return InputFile(tensors: [tensor.tensor.isFloat == true ? "pixel_values" : "input_ids": tensor.tensor], skipped: [])
        case "safetensors": return InputFile(tensors: try safetensors(data, source: source), skipped: [])
        default: return try jsonFile(data, source: source)
        }
    }

    static func fail(_ source: String, _ reason: String) -> ModelDataError { .invalidInput(source: source, reason: reason) }

    // MARK: - NumPy

    /// A dtype an `.npy` array may not have: objects and text are not model inputs.
    struct NonNumeric: Error { let description: String }

    /// One `.npy` array (format 1.0–3.0, C order; a Fortran-order array is accepted when at
    /// most one dimension exceeds 1, where both orders are the same bytes).
    static func npy(_ data: Data, source: String) throws -> (tensor: InputTensor, isInteger: Bool) {
        do { return try npyArray(data, source: source) } catch let text as NonNumeric { throw fail(source, text.description) }
    }

    private static func npyArray(_ data: Data, source: String) throws -> (tensor: InputTensor, isInteger: Bool) {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw fail(source, "not a .npy file (no \\x93NUMPY magic)")
        }
        let major = bytes[6]
        let lengthBytes = major == 1 ? 2 : 4
        guard [1, 2, 3].contains(major), bytes.count >= 8 + lengthBytes else { throw fail(source, ".npy version \(major) is not supported") }
        let headerLength = bytes[8..<(8 + lengthBytes)].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let dataStart = 8 + lengthBytes + headerLength
        guard dataStart <= bytes.count else { throw fail(source, "truncated: the .npy header runs past the end of the file") }
        let header = String(decoding: bytes[(8 + lengthBytes)..<dataStart], as: UTF8.self)
        guard let descrMatch = header.firstMatch(of: /'descr':\s*'([^']*)'/) else {
            if header.contains("'descr': [") { throw NonNumeric(description: "structured arrays (a list of fields) are not accepted: save one plain array per name") }
            throw fail(source, "the .npy header names no dtype ('descr'): \(header.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        guard let shapeMatch = header.firstMatch(of: /'shape':\s*\(([^)]*)\)/) else {
            throw fail(source, "the .npy header has no shape: \(header.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let descr = String(descrMatch.1)
        guard let dtype = descr.firstMatch(of: /^([<>|=]?)([a-zA-Z])(\d*)$/) else { throw fail(source, "dtype '\(descr)' is not supported") }
        let kind = Character(String(dtype.2)), size = Int(dtype.3) ?? 0
        switch kind {
        case "O": throw NonNumeric(description: "object arrays (dtype \(descr)) are not accepted: save numbers, ids as integers and pixels as floats")
        case "U", "S", "a": throw NonNumeric(description: "text arrays (dtype \(descr)) are not model inputs")
        default: break
        }
        let shape = try shapeMatch.1.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map {
            guard let n = Int($0), n >= 0 else { throw fail(source, "bad .npy shape (\(shapeMatch.1))") }
            return n
        }
        if header.contains("'fortran_order': True"), shape.filter({ $0 > 1 }).count > 1 {
            throw fail(source, "Fortran-order arrays are not supported: save with np.ascontiguousarray")
        }
        let bigEndian = dtype.1 == ">"
        let numeric = ["i", "u", "f", "b"].contains(kind) && [1, 2, 4, 8].contains(size) && (kind != "f" || size >= 2) && (kind != "b" || size == 1)
        guard numeric else {
            throw fail(source, "dtype \(descr) is not supported: ids must be integers, pixels float16/32/64")
        }
        // Declared size, overflow-checked, against the limit, before reading or allocating anything.
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, product <= limit else { throw fail(source, "shape \(shape) declares more than \(limit >> 20) MiB of values: refused") }
            count = product
        }
        guard count * size <= limit else { throw fail(source, "shape \(shape) of \(descr) declares \(count * size) bytes, over the \(limit >> 20) MiB an input may hold") }
        let available = bytes.count - dataStart
        guard available >= count * size else {
            throw fail(source, "truncated: shape \(shape) of \(kind)\(size) needs \(count * size) bytes, the file has \(available)")
        }
        guard available == count * size else {
            throw fail(source, "\(available - count * size) bytes follow the array its header declares: not an .npy array of shape \(shape)")
        }
        let values = decode(bytes, from: dataStart, count: count, kind: kind == "b" ? "u" : kind, size: size, bigEndian: bigEndian)
        return (InputTensor(shape: shape, values: values, isFloat: kind == "f"), kind != "f")
    }

    /// Little- or big-endian integers and floats to doubles.
    static func decode(_ bytes: [UInt8], from start: Int, count: Int, kind: Character, size: Int, bigEndian: Bool) -> [Double] {
        (0..<count).map { i in
            var raw: UInt64 = 0
            for b in 0..<size {
                let byte = UInt64(bytes[start + i * size + (bigEndian ? size - 1 - b : b)])
                raw |= byte << (8 * UInt64(b))
            }
            switch kind {
            case "u": return Double(raw)
            case "i":
                let shift = UInt64(64 - 8 * size)
                return Double(Int64(bitPattern: raw << shift) >> Int64(shift))
            default:
                switch size {
                case 2: return Double(HalfPrecision.float(fromF16: UInt16(raw)))
                case 4: return Double(Float(bitPattern: UInt32(raw)))
                default: return Double(bitPattern: raw)
                }
            }
        }
    }

    /// A `.npz`: a zip of `<name>.npy` entries (np.savez stores, np.savez_compressed deflates).
    /// Each member's declared size is checked before it is inflated, and inflating stops at
    /// that size or the limit (a zip that lies about a member's size is refused, not followed).
    /// Text and object arrays (a tokenizer's strings saved beside its ids) are skipped, and said.
    static func npz(_ data: Data, source: String) throws -> InputFile {
        let archive: Archive
        do { archive = try Archive(data: data, accessMode: .read) } catch {
            throw fail(source, "not a readable .npz (zip) file: truncated or corrupt")
        }
        var out: [String: InputTensor] = [:], skipped: [String] = [], total = 0
        struct TooLarge: Error {}
        for entry in archive where entry.type == .file && entry.path.hasSuffix(".npy") {
            let declared = Int(clamping: entry.uncompressedSize)
            total += declared
            guard declared <= limit, total <= limit else {
                throw fail(source, "member \(entry.path) declares \(entry.uncompressedSize) bytes inflated, over the \(limit >> 20) MiB an input may hold: refused")
            }
            var member = Data()
            do {
                _ = try archive.extract(entry, skipCRC32: false) { chunk in
                    guard member.count + chunk.count <= declared else { throw TooLarge() }
                    member.append(chunk)
                }
            } catch is TooLarge {
                throw fail(source, "member \(entry.path) inflates past the \(declared) bytes it declares: refused")
            } catch {
                throw fail(source, "member \(entry.path) cannot be read: truncated or corrupt")
            }
            let name = String(entry.path.dropLast(4))
            do {
                out[name] = try npyArray(member, source: "\(source) (\(entry.path))").tensor
            } catch is NonNumeric {
                skipped.append(name)
            }
        }
        guard !out.isEmpty else { throw fail(source, "the .npz holds no numeric .npy arrays" + (skipped.isEmpty ? "" : " (only \(skipped.sorted().joined(separator: ", ")))")) }
        return InputFile(tensors: out, skipped: skipped.sorted())
    }

    // MARK: - safetensors and JSON

    static func safetensors(_ data: Data, source: String) throws -> [String: InputTensor] {
        let file = try SafetensorsFile(data: data, path: source)
        let bytes = [UInt8](data)
        var out: [String: InputTensor] = [:]
        for entry in file.entries {
            let kinds: [String: (Character, Int)] = ["I8": ("i", 1), "I16": ("i", 2), "I32": ("i", 4), "I64": ("i", 8), "U8": ("u", 1),
                                                     "U16": ("u", 2), "U32": ("u", 4), "U64": ("u", 8), "F16": ("f", 2), "F32": ("f", 4), "F64": ("f", 8)]
            guard let (kind, size) = kinds[entry.dtypeName] else {
                throw fail(source, "tensor \"\(entry.name)\" has dtype \(entry.dtypeName): ids must be integers, pixels F16/F32/F64")
            }
            out[entry.name] = InputTensor(shape: entry.shape, values: decode(bytes, from: entry.byteRange.lowerBound, count: entry.elementCount,
                                                                             kind: kind, size: size, bigEndian: false), isFloat: kind == "f")
        }
        return out
    }

    static func json(_ data: Data, source: String) throws -> [String: InputTensor] { try jsonFile(data, source: source).tensors }

    /// JSON's tensors: every key whose value is an array of numbers (nested, or flat with a
    /// shape) or a {"shape", "data"} object. Other keys — text, a bare number such as a seed,
    /// booleans — are metadata, never taken for a tensor: they are skipped and named.
    static func jsonFile(_ data: Data, source: String) throws -> InputFile {
        guard let object = try? JSONSerialization.jsonObject(with: data) else { throw fail(source, "not valid JSON") }
        guard let top = object as? [String: Any] else { throw fail(source, "top level is not a JSON object") }
        let sharedShape = top["shape"].flatMap { $0 as? [Any] }.map { $0.compactMap { ($0 as? NSNumber)?.intValue } }
        var out: [String: InputTensor] = [:], skipped: [String] = []
        for (name, value) in top where name != "shape" {
            if let described = value as? [String: Any] {
                guard let shape = (described["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                      let flat = described["data"] ?? described["values"] else {
                    skipped.append(name)
                    continue
                }
                out[name] = try shaped(flat, shape: shape, name: name, source: source)
            } else if !(value is [Any]) {
                // Metadata is skipped; an input's own name holding a single value is a mistake.
                guard !inputNames.contains(name) else {
                    throw fail(source, "\"\(name)\" must be an array of shape [1, …] (batch size 1), not a single value")
                }
                skipped.append(name)
            } else if let sharedShape, let array = value as? [Any], !(array.first is [Any]) {
                out[name] = try shaped(array, shape: sharedShape, name: name, source: source)
            } else if (value as? [Any]).map({ !containsNumbers($0) }) == true {
                skipped.append(name)  // an array of text
            } else {
                var shape: [Int] = []
                var values: [Double] = []
                try nested(value, depth: 0, shape: &shape, into: &values, name: name, source: source)
                out[name] = InputTensor(shape: shape, values: values)
            }
        }
        return InputFile(tensors: out, skipped: skipped.sorted())
    }

    /// The Hugging Face names of model inputs.
    static let inputNames: Set<String> = ["input_ids", "attention_mask", "token_type_ids", "pixel_values"]

    /// Whether the first leaf of nested arrays is a number (and not a boolean).
    private static func containsNumbers(_ array: [Any]) -> Bool {
        var element: Any? = array.first
        while let nested = element as? [Any] { element = nested.first }
        guard let n = element as? NSNumber else { return element == nil }
        return String(cString: n.objCType) != "c"
    }

    private static func number(_ value: Any, name: String, source: String) throws -> Double {
        guard let n = value as? NSNumber, String(cString: n.objCType) != "c" else { throw fail(source, "\"\(name)\" holds a non-number") }
        return n.doubleValue
    }

    private static func shaped(_ flat: Any, shape: [Int], name: String, source: String) throws -> InputTensor {
        guard let array = flat as? [Any] else { throw fail(source, "\"\(name)\": data must be a flat array") }
        guard array.count == shape.reduce(1, *), shape.allSatisfy({ $0 >= 0 }) else {
            throw fail(source, "\"\(name)\" has \(array.count) values for shape \(shape)")
        }
        return InputTensor(shape: shape, values: try array.map { try number($0, name: name, source: source) })
    }

    /// Nested arrays: the shape from the first element at each depth, every row checked against it.
    private static func nested(_ value: Any, depth: Int, shape: inout [Int], into values: inout [Double], name: String, source: String) throws {
        guard let array = value as? [Any] else {
            guard depth == shape.count else { throw fail(source, "\"\(name)\" is ragged: a number where an array belongs") }
            values.append(try number(value, name: name, source: source))
            return
        }
        if depth == shape.count { shape.append(array.count) }
        guard depth < shape.count, shape[depth] == array.count else {
            throw fail(source, "\"\(name)\" is ragged: dimension \(depth) has \(array.count) entries, expected \(depth < shape.count ? shape[depth] : 0)")
        }
        for element in array { try nested(element, depth: depth + 1, shape: &shape, into: &values, name: name, source: source) }
    }
}
