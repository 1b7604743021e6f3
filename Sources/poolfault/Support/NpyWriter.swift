import Foundation
import Transformer

/// Writes a float32 array as a NumPy .npy file (format 1.0), the format users load with
/// `numpy.load` to compare against Hugging Face.
enum NpyWriter {
    static func data(_ values: [Float], shape: [Int]) -> Data {
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(dims)), }"
        // magic (6) + version (2) + length (2) + header + "\n", padded to a multiple of 64.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        out.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        out.append(contentsOf: Array(header.utf8))
        values.withUnsafeBytes { out.append(contentsOf: $0) }  // little-endian hosts only (x86-64, arm64)
        return out
    }

    static func write(_ values: [Float], shape: [Int], to path: String) throws {
        do {
            try data(values, shape: shape).write(to: URL(fileURLWithPath: path))
        } catch {
            throw ToolError.unwritable(path: path, reason: FileAccess.reason(of: error))
        }
    }
}

/// Failures of the tool itself (exit 2).
enum ToolError: Error, CustomStringConvertible {
    case unwritable(path: String, reason: String)
    var description: String {
        switch self {
        case let .unwritable(path, reason): return "cannot write \(path): \(reason). Choose a writable path."
        }
    }
}
