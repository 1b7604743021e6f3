import Foundation

/// Reading and checking the files users name, with messages in the OS's words ("No such file
/// or directory", "is a named pipe") instead of Foundation's ("NSCocoaErrorDomain error 256").
public enum FileAccess {
    /// Reads a whole (small) regular file: "not there" is `.missingFile` (bad input, exit 65);
    /// a directory, FIFO, socket or device is refused by type (it could block or never end);
    /// other failures are `.unreadable`.
    /// `limit`: the most bytes the file may hold; a larger one is refused as bad input
    /// before it is read.
    public static func read(_ url: URL, what: String, limit: Int? = nil) throws -> Data {
        let path = url.path
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw ModelDataError.missingFile(path: path, what: what) }
            throw ModelDataError.unreadable(path: path, reason: String(cString: strerror(code)))
        }
        if let kind = nonRegularKind(info.st_mode) {
            throw ModelDataError.unreadable(path: path, reason: "is \(kind), not a regular file (\(what))")
        }
        if let limit, Int(info.st_size) > limit {
            throw ModelDataError.invalidInput(source: path, reason: "is \(info.st_size) bytes, more than the \(limit >> 20) MiB \(what) may be: refused unread")
        }
        do {
            return try Data(contentsOf: url)
        } catch {
            throw ModelDataError.unreadable(path: path, reason: reason(of: error))
        }
    }

    /// Why `path` could not be written to, or nil when it can: proves the file can be opened
    /// for writing without touching an existing file's contents; `createFolder` first creates
    /// its folder (as report writers do).
    public static func writeProblem(_ path: String, createFolder: Bool = false) -> String? {
        let url = URL(fileURLWithPath: path)
        if createFolder {
            do {
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            } catch {
                return "cannot create its folder \(url.deletingLastPathComponent().path): \(reason(of: error))"
            }
        }
        var info = stat()
        if stat(path, &info) == 0 {
            if let kind = nonRegularKind(info.st_mode) { return "is \(kind), not a regular file" }
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { return String(cString: strerror(errno)) }
            close(fd)
            return nil
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        close(fd)
        unlink(path)
        return nil
    }

    /// The POSIX reason behind a Foundation file error, else its description.
    public static func reason(of error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if nsError.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(nsError.code))) }
        switch nsError.code {
        case NSFileNoSuchFileError, NSFileReadNoSuchFileError: return "No such file or directory"
        case NSFileReadNoPermissionError, NSFileWriteNoPermissionError: return "Permission denied"
        case NSFileWriteOutOfSpaceError: return "No space left on device"
        case NSFileWriteVolumeReadOnlyError: return "Read-only file system"
        default: return nsError.localizedDescription
        }
    }

    /// "a directory", "a named pipe (FIFO)", … for anything but a regular file.
    static func nonRegularKind(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a named pipe (FIFO)"
        case S_IFSOCK: return "a socket"
        case S_IFCHR, S_IFBLK: return "a device"
        default: return "not a regular file"
        }
    }
}
