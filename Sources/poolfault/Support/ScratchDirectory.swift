import Foundation

/// A private directory (mkdtemp, mode 0700) for a benchmark's files, removed with the value:
/// its name cannot collide with another run's, and nothing is left behind on any exit path
/// that unwinds (errors included).
final class ScratchDirectory {
    let url: URL

    init(_ purpose: String) throws {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/poolfault-\(purpose)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw ToolError.unwritable(path: base, reason: String(cString: strerror(errno)) + "; set TMPDIR to a writable directory")
        }
        url = URL(fileURLWithPath: String(cString: made))
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}
