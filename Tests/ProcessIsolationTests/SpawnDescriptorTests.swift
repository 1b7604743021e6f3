import Foundation
import Testing
@testable import ResourcePool

/// A browser process gets its descriptors at fixed numbers (weights 3, death watch 4, sockets
/// 5…). The pool's own numbers for them are whatever the kernel gave: one can be another's
/// target. Each must still arrive as itself.
@Suite struct SpawnDescriptorTests {
    // Test that a descriptor whose number is another's target reaches its own target intact (a
    // death watch's memfd opened as fd 3 once reached the browser as the weights file, and every
    // start failed with "cannot hold the death watch's mutex").
    @Test func eachDescriptorArrivesAsItselfWhenNumbersCollide() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("poolfault-spawn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = dir.appendingPathComponent("first").path, second = dir.appendingPathComponent("second").path
        let out = dir.appendingPathComponent("out").path
        for path in [first, second] { FileManager.default.createFile(atPath: path, contents: Data()) }
        let a = open(first, O_RDONLY | O_CLOEXEC), b = open(second, O_RDONLY | O_CLOEXEC)
        defer { close(a); close(b) }
        try #require(a >= 0 && b >= 0)
        // `first` goes to `second`'s own number: applied in order, that dup2 would overwrite `second` before it is moved.
        let targets = (b, max(a, b) + 1)
        let script = "readlink /proc/self/fd/\(targets.0) > '\(out)'; readlink /proc/self/fd/\(targets.1) >> '\(out)'"
        let pid = try ProcessSpawner.shared.spawn(.init(executable: "/bin/sh", arguments: ["-c", script], environment: [:],
                                                        descriptors: [(a, targets.0), (b, targets.1)]))
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid && status == 0, "the child ended cleanly: \(status)")
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines == [first, second], "fd \(targets.0) and \(targets.1) in the child: \(lines)")
    }
}
