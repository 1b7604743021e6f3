import Foundation

/// A private directory for one pool's browser processes (mode 0700): each context's listening
/// socket, the SPIR-V handed to new processes, the workers' validation messages. Removed with
/// the pool. The run's token (random, 256 bits) is what every connection must present.
final class RunDirectory: @unchecked Sendable {  // immutable after init
    let path: String
    let token: String

    init() throws {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/poolfault-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw PoolError.isolation("cannot create a private run directory under \(base): \(String(cString: strerror(errno))); set TMPDIR to a writable directory")
        }
        path = String(cString: made)
        chmod(path, 0o700)
        var generator = SystemRandomNumberGenerator()
        token = (0..<4).map { _ in String(format: "%016llx", generator.next() as UInt64) }.joined()
        FileManager.default.createFile(atPath: validationPath, contents: nil, attributes: [.posixPermissions: 0o600])
    }

    func socketPath(_ context: String) -> String { "\(path)/\(context).sock" }
    var spirvCachePath: String { "\(path)/spirv.cache" }
    var validationPath: String { "\(path)/validation.log" }

    /// Validation-layer messages the workers wrote (severity, id, text per line).
    func validationLines() -> [String] {
        guard let data = FileManager.default.contents(atPath: validationPath) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    deinit { remove() }

    /// Removes the directory and everything in it.
    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
