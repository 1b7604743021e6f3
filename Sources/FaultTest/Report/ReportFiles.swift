import Foundation
import Transformer
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A report could not be written. The CLI maps it to exit code 2 (the tool itself could not
/// do its job) and prints `description`: one line saying what went wrong and what to do.
public enum ReportWriteError: Error, Equatable, CustomStringConvertible {
    /// The file or its directory cannot be created or written.
    case unwritable(path: String, reason: String)
    /// The report could not be turned into bytes (a value the encoder refused).
    case unencodable(reason: String)

    public var description: String {
        switch self {
        case .unwritable(let path, let reason):
            return "cannot write report \(path): \(reason); choose a writable location "
                + "(--output-dir for JSON, --junit for JUnit) or fix its permissions"
        case .unencodable(let reason):
            return "cannot encode the report: \(reason); this is a bug in poolfault, please report it with the log"
        }
    }
}

/// Creating report files without ever overwriting one and without races: the name is claimed
/// with open(O_CREAT | O_EXCL), so two runs in the same second (or in parallel CI jobs) each
/// get their own file.
public enum ReportFiles {
    /// Creates `directory` with its parents.
    static func makeDirectory(_ directory: URL) throws(ReportWriteError) {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw .unwritable(path: directory.path, reason: reason(of: error))
        }
    }

    /// Writes `data` to the first free name among `<stem>.<ext>`, `<stem>_2.<ext>`, `<stem>_3.<ext>`, …
    /// in `directory` (which must exist) and returns the file's URL.
    static func writeUnique(_ data: Data, in directory: URL, stem: String,
                            extension ext: String) throws(ReportWriteError) -> URL {
        // Bounded: after this many taken names something else is wrong (a loop creating files).
        for n in 1...10_000 {
            let name = n == 1 ? "\(stem).\(ext)" : "\(stem)_\(n).\(ext)"
            let url = directory.appendingPathComponent(name)
            let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd < 0 {
                let code = errno
                if code == EEXIST { continue }
                throw .unwritable(path: url.path, reason: String(cString: strerror(code)))
            }
            do throws(ReportWriteError) {
                try writeAll(data, to: fd, path: url.path)
            } catch {
                close(fd)
                unlink(url.path)  // no half-written report left behind under a claimed name
                throw error
            }
            if close(fd) != 0 {
                let reason = String(cString: strerror(errno))
                unlink(url.path)
                throw .unwritable(path: url.path, reason: reason)
            }
            return url
        }
        throw .unwritable(path: directory.appendingPathComponent("\(stem).\(ext)").path,
                          reason: "10000 files with this name already exist")
    }

    /// Writes `data` to `url`, replacing it (a file the user named, e.g. `--junit FILE`),
    /// creating its directory first. Atomic: a reader never sees half a file.
    public static func replace(_ url: URL, with data: Data) throws(ReportWriteError) {
        try makeDirectory(url.deletingLastPathComponent())
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw .unwritable(path: url.path, reason: reason(of: error))
        }
    }

    /// A file-name-safe form of `text` (the report's timestamp is data: it must not add "/").
    static func safeFileName(_ text: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        let cleaned = String(text.map { allowed.contains($0) ? $0 : "_" })
        return cleaned.isEmpty || cleaned.allSatisfy({ $0 == "." }) ? "unknown" : cleaned
    }

    private static func writeAll(_ data: Data, to fd: Int32, path: String) throws(ReportWriteError) {
        var failure: Int32 = 0
        data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            guard var pointer = buffer.baseAddress else { return }
            var left = buffer.count
            while left > 0 {
                let written = write(fd, pointer, left)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                left -= written
                pointer += written
            }
        }
        if failure != 0 { throw .unwritable(path: path, reason: String(cString: strerror(failure))) }
    }

    /// The POSIX reason behind a Foundation file error ("Not a directory"), else its description.
    private static func reason(of error: any Error) -> String { FileAccess.reason(of: error) }

    /// Proves before any work that `file` (e.g. `--junit FILE`) can be written.
    public static func checkWritable(file: URL) throws(ReportWriteError) {
        if let problem = FileAccess.writeProblem(file.path, createFolder: true) { throw .unwritable(path: file.path, reason: problem) }
    }
}
