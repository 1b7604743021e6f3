import Foundation
import Testing
@testable import ResourcePool
import VulkanCompute

/// Where browser sockets go: TMPDIR checked before any work, /tmp when TMPDIR is too long for a
/// socket path, and run directories of dead pools swept — only those.
@Suite struct RunDirectoryTests {
    static func scratch(_ name: String) throws -> String {
        let dir = "/tmp/poolfault-test-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    // Test that a TMPDIR that is missing or a file is refused with a message naming it and the
    // fix, and that an empty one means /tmp.
    @Test func anUnusableTMPDIRIsRefusedNamingTheFix() throws {
        let dir = try Self.scratch("tmpdir")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/file"
        FileManager.default.createFile(atPath: file, contents: Data())
        for (tmpdir, problem) in [(dir + "/missing", "does not exist"), (file, "is not a directory")] {
            do {
                _ = try RunDirectory.base(longestContext: "chrome", tmpdir: tmpdir)
                Issue.record("\(tmpdir) was taken")
            } catch let PoolError.environment(message) {
                #expect(message.contains("TMPDIR=\(tmpdir)") && message.contains(problem) && message.contains("set TMPDIR"), "\(message)")
            }
        }
        #expect(try RunDirectory.base(longestContext: "chrome", tmpdir: "").path == "/tmp")
        #expect(try RunDirectory.base(longestContext: "chrome", tmpdir: nil).path == "/tmp")
        let plain = try RunDirectory.base(longestContext: "chrome", tmpdir: dir)
        #expect(plain.path == dir && plain.note == nil)
    }

    // Test that a TMPDIR whose socket paths would pass sockaddr_un's limit sends the sockets to
    // /tmp with a note, at exactly the limit and not a byte before.
    @Test func aTMPDIRTooLongForSocketsFallsBackToTmp() throws {
        let root = try Self.scratch("long")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let context = "chrome-2"
        let fixed = RunDirectory.socketLength(base: "", context: context)
        // A directory whose socket paths are exactly the limit, then one byte longer.
        for extra in [0, 1] {
            let length = RunDirectory.socketPathLimit + extra - fixed - root.utf8.count - 1
            let dir = root + "/" + String(repeating: "d", count: length)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            #expect(RunDirectory.socketLength(base: dir, context: context) == RunDirectory.socketPathLimit + extra)
            let (path, note) = try RunDirectory.base(longestContext: context, tmpdir: dir)
            if extra == 0 {
                #expect(path == dir && note == nil)
            } else {
                #expect(path == "/tmp" && note?.contains("too long") == true, "\(note ?? "")")
            }
        }
    }

    // Test that the sweep removes a run directory whose owner has ended (a pid reused by a later
    // process counts as ended), and leaves one whose owner lives and one without an owner file.
    @Test func onlyRunDirectoriesOfEndedPoolsAreSwept() throws {
        let base = try Self.scratch("sweep")
        defer { try? FileManager.default.removeItem(atPath: base) }
        // A process that lives until it is ended here: its stamp is read while it surely runs
        // (one that exits by itself may be gone, reaped, before /proc is read).
        let ended = Process()
        ended.executableURL = URL(fileURLWithPath: "/bin/sleep")
        ended.arguments = ["600"]
        try ended.run()
        let endedStamp = RunDirectory.ownerStamp(ended.processIdentifier)
        kill(ended.processIdentifier, SIGKILL)  // not SIGTERM: a child may inherit it blocked from the test process
        ended.waitUntilExit()
        let stamp = try #require(endedStamp)
        let mine = try #require(RunDirectory.ownerStamp(getpid()))
        let reused = "\(getpid()) 1"  // this pid, but another start time: an earlier owner
        let dirs = ["ended": stamp, "reused": reused, "live": mine, "unowned": nil]
        for (name, stamp) in dirs {
            let dir = "\(base)/\(RunDirectory.prefix)\(name)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: dir + "/chrome.sock", contents: Data())
            if let stamp { FileManager.default.createFile(atPath: dir + "/owner", contents: Data(stamp.utf8)) }
        }
        #expect(FileManager.default.createFile(atPath: "\(base)/unrelated", contents: Data()))
        let removed = Set(RunDirectory.sweepStale(in: base).map { ($0 as NSString).lastPathComponent })
        #expect(removed == ["\(RunDirectory.prefix)ended", "\(RunDirectory.prefix)reused"])
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: base))
        #expect(left == ["\(RunDirectory.prefix)live", "\(RunDirectory.prefix)unowned", "unrelated"])
    }

    // Test that the SPIR-V one pool's browsers compiled is handed to the next pool's browsers
    // (a browser's shader cache outlives the browser): what a run directory's browsers left in
    // it is in the next run directory when it is made.
    @Test func compiledShadersOutliveTheirPool() throws {
        let source = ShaderSource(fileName: "outlive.comp", text: "#version 450\nlayout(local_size_x = 1) in;\nvoid main() { }\n")
        let defines = ["UNIQUE": "\(UInt32.random(in: 1...UInt32.max))u"]
        let browser = ShaderCompiler()
        _ = try browser.compile(source, defines: defines)
        let first = try RunDirectory(longestContext: "chrome")
        #expect(FileManager.default.createFile(atPath: first.spirvCachePath, contents: browser.exportCache()))
        first.remove()
        let second = try RunDirectory(longestContext: "chrome")
        defer { second.remove() }
        let handed = try #require(FileManager.default.contents(atPath: second.spirvCachePath), "no SPIR-V handed to the next pool")
        let next = ShaderCompiler()
        #expect(next.importCache(handed) >= 1)
        let known = next.cachedCount
        #expect(try next.compile(source, defines: defines) == (try browser.compile(source, defines: defines)))
        #expect(next.cachedCount == known, "the variant was compiled again, not handed over")
    }
}
