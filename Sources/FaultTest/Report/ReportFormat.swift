import Foundation

/// Number and text formatting shared by the terminal and JUnit reports.
public enum ReportFormat {
    /// Byte counts for people: "0 B", "512 B", "32 KiB", "140 MiB", "1.5 GiB".
    public static func bytes(_ n: Int) -> String {
        guard n >= 1024 else { return "\(n) B" }  // negative counts too: shown as they are
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
        let digits = value == value.rounded() || value >= 100 ? "%.0f" : "%.1f"
        return String(format: "\(digits) %@", value, units[unit])
    }

    /// A duration in seconds as milliseconds with sensible precision: "0.4 ms", "55 ms",
    /// "1.25 s"; "?" for a value that is not a number.
    public static func milliseconds(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let ms = seconds * 1000
        if abs(ms) < 10 { return String(format: "%.1f ms", ms) }
        if abs(ms) < 1000 { return String(format: "%.0f ms", ms) }
        return String(format: "%.2f s", seconds)
    }

    /// A numeric error as "4.6e-06" (as Python's "%.1e"); "inf" for infinity, which is what
    /// NumericComparison reports for a NaN or a length mismatch.
    public static func scientific(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        // Read-back JSON holds infinity as ±greatestFiniteMagnitude until unclamped; be safe.
        if value.isInfinite || abs(value) == .greatestFiniteMagnitude { return value > 0 ? "inf" : "-inf" }
        return String(format: "%.1e", value)
    }

    /// Python's `str.ljust(width)`: pads with spaces to `width` characters, never truncates.
    static func leftJustified(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    /// `text` on one line, without control characters: a message is data (it may carry a
    /// driver's multi-line error or an escape sequence) and must not break the layout or
    /// smuggle colour codes into a report printed without colour.
    static func singleLine(_ text: String) -> String {
        var out = ""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        var lastWasSpace = false
        for scalar in text.unicodeScalars {
            let isControl = scalar.properties.generalCategory == .control
            if isControl || scalar == "\u{2028}" || scalar == "\u{2029}" {
                // Line breaks and tabs become one space; other control characters go.
                if (scalar == "\n" || scalar == "\r" || scalar == "\t" || !isControl), !lastWasSpace {
                    out.unicodeScalars.append(" ")
                    lastWasSpace = true
                }
                continue
            }
            out.unicodeScalars.append(scalar)
            lastWasSpace = scalar == " "
        }
        return out.trimmingCharacters(in: .whitespaces)
    }
}
