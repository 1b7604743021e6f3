import Foundation

/// Where the CLI tests put their files: one folder per test process under the temporary
/// directory, removed with everything in it when the process exits, so a test run leaves no
/// reports, sockets' folders or fixtures behind (each test still gets a folder of its own).
enum Scratch {
    static let root: URL = {
        let root = URL(fileURLWithPath: folder(of: getpid()))
        try? FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: Scratch.folder(of: getpid())) }
        return root
    }()

    static func folder(of pid: pid_t) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("poolfault-tests-\(pid)").path
    }
}
