import Foundation

/// Text for XML, HTML and SVG (JUnit, the HTML report): the five markup characters as entities,
/// and characters XML 1.0 forbids replaced, so every report stays well formed. In attributes,
/// tab, newline and carriage return become character references (they survive normalisation).
public enum MarkupText {
    public static func escape(_ value: String, inAttribute: Bool = true) -> String {
        var out = ""
        out.unicodeScalars.reserveCapacity(value.unicodeScalars.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r":
                if inAttribute { out += "&#\(scalar.value);" } else { out.unicodeScalars.append(scalar) }
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
