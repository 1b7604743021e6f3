import Foundation
import VulkanCompute

/// A private directory for one pool's browser processes (mode 0700): each context's listening
/// socket, the SPIR-V handed to new processes, the workers' validation messages, and who owns
/// it. Removed with the pool; one left by a pool that was SIGKILLed is swept by the next pool
/// (its owner is dead). The run's token (random, 256 bits) is what every connection must present.
final class RunDirectory: @unchecked Sendable {  // immutable after init
    let path: String
    let token: String

    /// A Unix socket's path must fit sockaddr_un's 108 bytes, the terminating zero included.
    static let socketPathLimit = 107
    static let prefix = "poolfault-"

    /// Where run directories go: $TMPDIR (else /tmp) when it is a writable directory; when
    /// socket paths there would pass the limit, /tmp (its own private directory all the same).
    /// Throws, naming the fix, when neither can be used: the environment's fault, not the
    /// hardware's, so no scenario runs (and no node is drained for it).
    static func base(longestContext: String, tmpdir: String? = ProcessInfo.processInfo.environment["TMPDIR"]) throws -> (path: String, note: String?) {
        let asked = tmpdir.flatMap { $0.isEmpty ? nil : $0 }
        let candidate = asked ?? "/tmp"
        if let problem = usability(candidate) {
            throw PoolError.environment("TMPDIR=\(candidate) \(problem): set TMPDIR to a writable directory (or unset it for /tmp)")
        }
        let socket = socketLength(base: candidate, context: longestContext)
        guard socket > socketPathLimit else { return (candidate, nil) }
        if let problem = usability("/tmp") {
            throw PoolError.environment("socket paths under TMPDIR=\(candidate) would be \(socket) bytes (the limit is \(socketPathLimit)), and /tmp \(problem): set TMPDIR to a shorter writable directory")
        }
        return ("/tmp", "TMPDIR=\(candidate) is too long for Unix socket paths (\(socket) of \(socketPathLimit) bytes): browser sockets go under /tmp")
    }

    /// Why `path` cannot hold run directories, or nil.
    static func usability(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return "does not exist (\(String(cString: strerror(errno))))" }
        guard info.st_mode & S_IFMT == S_IFDIR else { return "is not a directory" }
        guard access(path, W_OK | X_OK) == 0 else { return "is not writable (\(String(cString: strerror(errno))))" }
        return nil
    }

    /// The length of a context's socket path under `base`.
    static func socketLength(base: String, context: String) -> Int {
        "\(base)/\(prefix)XXXXXX/\(context).sock".utf8.count
    }

    init(longestContext: String) throws {
        let base = try Self.base(longestContext: longestContext).path
        Self.sweepStale(in: base)
        var template = Array("\(base)/\(Self.prefix)XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw PoolError.environment("cannot create a private run directory under \(base): \(String(cString: strerror(errno))); set TMPDIR to a writable directory")
        }
        path = String(cString: made)
        chmod(path, 0o700)
        var generator = SystemRandomNumberGenerator()
        token = (0..<4).map { _ in String(format: "%016llx", generator.next() as UInt64) }.joined()
        FileManager.default.createFile(atPath: validationPath, contents: nil, attributes: [.posixPermissions: 0o600])
        FileManager.default.createFile(atPath: "\(path)/owner", contents: Data(Self.ownerStamp(getpid())?.utf8 ?? "".utf8),
                                       attributes: [.posixPermissions: 0o600])
        // The SPIR-V earlier pools' browsers compiled (see `remove`): a browser's shader cache
        // outlives the browser, so a later scenario's first process does not run glslang again.
        if ShaderCompiler.shared.cachedCount > 0 {
            _ = FileManager.default.createFile(atPath: spirvCachePath, contents: ShaderCompiler.shared.exportCache(),
                                               attributes: [.posixPermissions: 0o600])  // unwritten: the browsers compile
        }
    }

    /// A context's socket. Names are checked when the pool is made (`PoolConfiguration.problem`):
    /// a name with a path in it never gets here, and nothing outside the directory is touched.
    func socketPath(_ context: String) -> String { "\(path)/\(context).sock" }
    var spirvCachePath: String { "\(path)/spirv.cache" }
    var validationPath: String { "\(path)/validation.log" }

    /// Validation-layer messages the workers wrote (severity, id, text per line).
    func validationLines() -> [String] {
        guard let data = FileManager.default.contents(atPath: validationPath) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    deinit { remove() }

    /// Removes the directory and everything in it, keeping the SPIR-V its browsers compiled for
    /// the next pool of this process.
    func remove() {
        if let compiled = FileManager.default.contents(atPath: spirvCachePath) { ShaderCompiler.shared.importCache(compiled) }
        try? FileManager.default.removeItem(atPath: path)
    }

    /// "pid starttime": a process, told apart from a later one that reuses its pid (the start
    /// time in clock ticks since boot, /proc/<pid>/stat's 22nd field).
    static func ownerStamp(_ pid: pid_t) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? "\(pid) \(fields[19])" : nil
    }

    /// Removes run directories under `base` that this user's pools left behind: those whose
    /// owner file names a process that no longer runs. Directories without one, or owned by
    /// another user, or whose owner lives, are left alone. Returns what it removed.
    @discardableResult
    static func sweepStale(in base: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: base) else { return [] }
        var removed: [String] = []
        for name in names where name.hasPrefix(prefix) {
            let dir = "\(base)/\(name)"
            var info = stat()
            guard lstat(dir, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == getuid(),
                  let stamp = try? String(contentsOfFile: "\(dir)/owner", encoding: .utf8),
                  let pid = stamp.split(separator: " ").first.flatMap({ pid_t($0) }), pid > 0 else { continue }
            guard ownerStamp(pid) != stamp else { continue }  // its pool still runs
            if (try? FileManager.default.removeItem(atPath: dir)) != nil { removed.append(dir) }
        }
        return removed
    }
}
