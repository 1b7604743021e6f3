import Foundation
import Testing

/// What a fleet's plumbing can be handed: the same report twice, more nodes than expected, a file
/// too big to be a report, an array size that overflows, health-check settings that make no
/// sense. Each is said, and a configuration error never drains a node.
@Suite(.serialized) struct HostileFleetCLITests {
    static let root = CLIRunner.packageRoot

    // Test that a report named twice (a file and its directory) or copied under another name
    // counts once and the copy is named; that more nodes than --expect-nodes are said; and that
    // a file too big to be a report is refused (65) unread.
    @Test func mergeCountsEachReportOnceAndSaysWhatItDid() throws {
        let dir = RunCLITests.tempDir("fleet-hostile")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try CLIRunner.run(["--weights", TinyModel.path, "--seq-len", "8", "--scenario", "connection_lost", "--no-html", "--output-dir", "\(dir)/a"],
                                    environment: ["SLURMD_NODENAME": "n1", "SLURM_JOB_ID": "1"])
        try #require(run.status == 0, "\(run.stderr)")
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/a").first { $0.hasPrefix("results_") })
        try FileManager.default.createDirectory(atPath: "\(dir)/b", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(dir)/a/\(name)", toPath: "\(dir)/b/results_copy.json")
        let merged = try CLIRunner.run(["report", "merge", "\(dir)/a", "\(dir)/a/\(name)", "\(dir)/b", "--output", "\(dir)/fleet.json"])
        #expect(merged.status == 0, "\(merged.stdout)\(merged.stderr)")
        #expect(merged.stderr.contains("counted once: \(dir)/b/results_copy.json"), "\(merged.stderr)")
        let fleet = try FleetChecks.load(URL(fileURLWithPath: "\(dir)/fleet.json"))
        let summary = try #require(fleet["summary"] as? [String: Any])
        #expect(summary["reports"] as? Int == 1 && summary["nodes"] as? Int == 1, "\(summary)")
        #expect((summary["duplicate_reports"] as? [String])?.count == 1, "\(summary)")

        // Another node's report: two nodes where one was expected is said, not silent.
        var other = try FleetChecks.load(URL(fileURLWithPath: "\(dir)/a/\(name)"))
        var host = other["host"] as! [String: Any]
        var scheduler = host["scheduler"] as! [String: Any]
        scheduler["node"] = "n2"
        host["scheduler"] = scheduler
        other["host"] = host
        try JSONSerialization.data(withJSONObject: other).write(to: URL(fileURLWithPath: "\(dir)/b/results_copy.json"))
        let extra = try CLIRunner.run(["report", "merge", "\(dir)/a", "\(dir)/b", "--output", "\(dir)/fleet.json", "--expect-nodes", "1"])
        #expect(extra.stdout.contains("UNEXPECTED: 1 node more than the 1 expected"), "\(extra.stdout)")
        #expect(extra.stderr.contains("2 nodes reported, 1 more than --expect-nodes 1"), "\(extra.stderr)")
        let extraSummary = try #require(try FleetChecks.load(URL(fileURLWithPath: "\(dir)/fleet.json"))["summary"] as? [String: Any])
        #expect(extraSummary["unexpected_nodes"] as? Int == 1, "\(extraSummary)")

        // A file past the size cap is refused before it is read (a sparse file: no disk spent).
        let big = "\(dir)/b/results_big.json"
        #expect(FileManager.default.createFile(atPath: big, contents: Data("{".utf8)))
        #expect(truncate(big, 300 << 20) == 0)
        let refused = try CLIRunner.run(["report", "merge", "\(dir)/a", big, "--output", "\(dir)/fleet.json"])
        #expect(refused.status == 65 && refused.stderr.contains("results_big.json") && refused.stderr.contains("refused unread"),
                "exit \(refused.status): \(refused.stderr)")
    }

    // Test that submit refuses an array size that would overflow, or is zero, naming the range.
    @Test(arguments: ["99999999999999999999", "1000000", "0", "-3", "1e3"])
    func submitRefusesACountOutOfRange(count: String) throws {
        let r = try CLIRunner.run(shell: "'\(Self.root.path)/deploy/slurm/submit' --array '\(count)' --dry-run")
        #expect(r.status == 64 && r.stderr.contains("from 1 to 999999"), "\(count): exit \(r.status) \(r.stderr)")
    }

    /// A stand-in `scontrol` that only writes down that it was called: the test's proof that no
    /// node was drained (or asked about).
    static func fakeScontrol(in dir: String) throws -> String {
        let bin = dir + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let script = "#!/bin/sh\necho \"$@\" >> '\(dir)/scontrol.calls'\n"
        #expect(FileManager.default.createFile(atPath: bin + "/scontrol", contents: Data(script.utf8), attributes: [.posixPermissions: 0o755]))
        return bin
    }

    // Test that health-check settings that make no sense are a configuration error (64) naming
    // the setting, before any run, and that no node is drained for one — nor for poolfault's own
    // usage error (a bad flag in POOLFAULT_EXTRA_ARGS).
    @Test(arguments: [("POOLFAULT_HEALTHCHECK_KEEP", "0"), ("POOLFAULT_HEALTHCHECK_KEEP", "abc"), ("POOLFAULT_HEALTHCHECK_TIMEOUT", "abc"),
                      ("POOLFAULT_HEALTHCHECK_DRAIN", "yes"), ("POOLFAULT_HEALTHCHECK_DETACH", "2"), ("POOLFAULT_REQUIRE_GPU", "maybe"),
                      ("TMPDIR", "/nonexistent/tmp"), ("POOLFAULT_EXTRA_ARGS", "--no-such-flag")])
    func aConfigurationErrorDrainsNoNode(name: String, value: String) throws {
        let dir = RunCLITests.tempDir("hc-config")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bin = try Self.fakeScontrol(in: dir)
        var env: [String: String?] = ["PATH": "\(bin):/usr/bin:/bin", "POOLFAULT": CLIRunner.binary.path, "POOLFAULT_REQUIRE_GPU": "0",
                                      "POOLFAULT_HEALTHCHECK_DIR": dir + "/hc", "POOLFAULT_SLURM_NODE": "node-1",
                                      "POOLFAULT_HEALTHCHECK_CONF": "/nonexistent", "POOLFAULT_HEALTHCHECK_DETACH": "0"]
        env[name] = value
        let r = try CLIRunner.run(shell: "'\(Self.root.path)/deploy/slurm/poolfault-healthcheck' quick", environment: env)
        #expect(r.status == 64, "\(name)=\(value): exit \(r.status) \(r.stderr)")
        #expect(r.stderr.contains("no node drained") && (r.stderr.contains(name) || name == "POOLFAULT_EXTRA_ARGS"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/scontrol.calls"), "scontrol was called")
    }
}
