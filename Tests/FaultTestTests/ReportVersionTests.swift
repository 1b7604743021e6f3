import FaultTest
import Foundation
import Testing

/// What README.md and docs/report-schema.md say each report's `schema_version` is, held to the
/// code's (`ReportVersion`): a bump that forgets its documentation fails here.
struct ReportVersionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The text with its line breaks and runs of spaces folded to one space (the docs wrap lines).
    static func text(_ path: String) throws -> String {
        let raw = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
        return raw.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    /// Every version that `pattern`'s first group captures in `text`.
    static func claims(_ pattern: String, in text: String) throws -> [String] {
        let regex = try NSRegularExpression(pattern: pattern)
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap {
            Range($0.range(at: 1), in: text).map { String(text[$0]) }
        }
    }

    @Test(arguments: [
        ("README.md", #"`schema_version` (\d+\.\d+)"#, ReportVersion.run),
        ("docs/report-schema.md", #"\| `schema_version` \| string \| `"(\d+\.\d+)"`"#, ReportVersion.run),
        ("docs/report-schema.md", #""schema_version": "(\d+\.\d+)""#, ReportVersion.run),
        ("docs/report-schema.md", #"`"tool": "poolfault soak"`, schema (\d+\.\d+)"#, ReportVersion.soak),
        ("docs/report-schema.md", #"`"tool": "poolfault bench recovery"`, schema (\d+\.\d+)"#, ReportVersion.benchRecovery),
        ("docs/report-schema.md", #"`"tool": "poolfault bench corruption"`, schema (\d+\.\d+)"#, ReportVersion.benchCorruption),
        ("docs/report-schema.md", #"`"tool": "poolfault report merge"`, schema (\d+\.\d+)"#, ReportVersion.fleet),
    ])
    func theDocumentsStateTheVersionsTheCodeWrites(file: String, pattern: String, version: String) throws {
        let found = try Self.claims(pattern, in: try Self.text(file))
        #expect(!found.isEmpty, "\(file) no longer says it: \(pattern)")
        #expect(found.allSatisfy { $0 == version }, "\(file) says \(found), the code writes \(version)")
    }
}
