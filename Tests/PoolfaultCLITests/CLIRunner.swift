import Foundation

/// Runs the `poolfault` binary that SwiftPM built next to this test bundle.
struct CLIRunner {
    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// POOLFAULT_BIN, else the products folder of this test bundle (…/debug/poolfault).
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["POOLFAULT_BIN"] { return URL(fileURLWithPath: path) }
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = me.deletingLastPathComponent()
        // The test binary may sit inside poolfaultPackageTests.xctest/…; walk up to the products folder.
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("poolfault").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("poolfault")
    }

    /// The package's root folder (for docs/report.schema.json).
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Runs poolfault with `arguments`; `environment` entries override (nil removes) the
    /// inherited ones. Lavapipe is pinned unless the caller pins another driver.
    static func run(_ arguments: [String], environment: [String: String?] = [:]) throws -> Result {
        try run(executable: binary, arguments, environment: environment)
    }

    /// Runs a /bin/sh command line (for redirections such as `2>&1` or `> /dev/full`).
    /// Runs `script` with `sh -c`, as a container's `command: [/bin/sh, -c, SCRIPT]` does.
    static func run(executableScript script: String, environment: [String: String?] = [:]) throws -> Result {
        try run(executable: URL(fileURLWithPath: "/bin/sh"), ["-c", script], environment: environment)
    }

    static func run(shell command: String, environment: [String: String?] = [:]) throws -> Result {
        try run(executable: URL(fileURLWithPath: "/bin/sh"), ["-c", command], environment: environment)
    }

    private static func run(executable: URL, _ arguments: [String], environment: [String: String?]) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        let lavapipe = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"
        if env["VK_DRIVER_FILES"] == nil, FileManager.default.fileExists(atPath: lavapipe) { env["VK_DRIVER_FILES"] = lavapipe }
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Both pipes are drained at once (stderr on its own thread), so neither can fill while
        // the other is read to its end: a child writing a lot to stderr would stall forever.
        let errBox = DataBox()
        let errReader = Thread { errBox.set(readToEnd(err.fileHandleForReading.fileDescriptor)) }
        errReader.start()
        let outData = readToEnd(out.fileHandleForReading.fileDescriptor)
        let errData = errBox.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }
}

/// Bytes read on one thread and handed to another.
final class DataBox: @unchecked Sendable {  // `data` under `condition`
    private let condition = NSCondition()
    private var data: Data?

    func set(_ value: Data) { condition.withLock { data = value; condition.broadcast() } }

    func wait() -> Data {
        condition.withLock {
            while data == nil { condition.wait() }
            return data!
        }
    }
}

/// Reads a descriptor to its end, retrying reads a signal interrupted (Foundation's
/// `readDataToEndOfFile` traps on EINTR, which a busy test process does meet).
func readToEnd(_ fd: Int32) -> Data {
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n > 0 { data.append(contentsOf: buffer[0..<n]); continue }
        if n < 0 && errno == EINTR { continue }
        return data
    }
}
