@preconcurrency import Glibc
import Foundation

/// Writes a line to stderr (diagnostics and errors; results go to stdout).
func printError(_ line: String) {
    fflush(nil)  // what went to stdout first comes first when both share a file (2>&1)
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Byte counts for people: "2.0 GiB", "128 MiB", "32 KiB".
func humanBytes(_ n: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(n)
    var unit = 0
    while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(n) B" : (value == value.rounded() ? String(format: "%.0f %@", value, units[unit])
                                                             : String(format: "%.1f %@", value, units[unit]))
}

/// Encodes a value as pretty, key-sorted JSON for stdout.
func jsonString<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

enum Terminal {
    /// C's stdout stream, for checking that every result line was written.
    static var stdoutFile: UnsafeMutablePointer<FILE> { stdout }
}
