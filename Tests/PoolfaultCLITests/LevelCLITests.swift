import Foundation
import Testing

/// `run --level`: validation levels like `dcgmi diag -r 1|2`.
@Suite(.serialized) struct LevelCLITests {
    // Test that --level quick passes end to end: the original four scenarios, one strategy, a
    // reduced model, one JUnit testcase per scenario, the level in the report.
    @Test func quickPassesEndToEnd() throws {
        let dir = RunCLITests.tempDir("quick"), junit = dir + "/junit.xml"
        let r = try CLIRunner.run(["--level", "quick", "--output-dir", dir, "--junit", junit, "--json", "--no-html"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let info = try #require(report["test_info"] as? [String: Any])
        #expect(info["level"] as? String == "quick" && info["layers"] as? Int == 3 && info["sequence_length"] as? Int == 32)
        #expect((report["summary"] as? [String: Any])?["run_order"] as? [String] == ["connection_lost", "component_failure", "browser_crash", "multiple_failures"])
        let xml = try String(contentsOfFile: junit, encoding: .utf8)
        #expect(xml.components(separatedBy: "<testcase ").count - 1 == 4)
    }

    // Test that bad level flags exit 64 before any work, naming the valid values.
    @Test(arguments: [["--level", "bogus"], ["--level", "quick", "--scenario", "browser_crash"], ["--level", "medium", "--isolation", "thread"],
                      ["--level", "long", "--isolation", "thread"], ["--soak-duration", "10s"], ["--level", "medium", "--crash-cycles", "5"],
                      ["--level", "long", "--soak-duration", "0s"], ["--level", "long", "--soak-duration", "soon"],
                      ["--level", "long", "--crash-cycles", "0"], ["--level", "long", "--crash-cycles", "10001"]])
    func badLevelFlagsExit64(_ flags: [String]) throws {
        let dir = RunCLITests.tempDir("bad-level")
        let r = try CLIRunner.run(flags + ["--output-dir", dir])
        #expect(r.status == 64, "\(flags): \(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        if flags.count > 1, flags[1] == "bogus" { #expect(r.stderr.contains("quick") && r.stderr.contains("medium"), "\(r.stderr)") }
        #expect(RunCLITests.reports(in: dir).isEmpty)
    }
}

/// `--level long` end to end (reduced model, a shorter soak and fewer cycles than the level's
/// 60 s and 100): medium's twenty-four scenarios (eight kinds × three strategies), then the soak
/// and the crash cycles, each a check with its own JUnit testcase.
@Suite(.serialized) struct LongLevelCLITests {
    @Test func longRunsItsChecks() throws {
        let dir = RunCLITests.tempDir("long"), junit = dir + "/junit.xml"
        let r = try CLIRunner.run(["--level", "long", "--weights", TinyModel.path, "--seq-len", "8", "--soak-duration", "6s", "--crash-cycles", "10",
                                   "--output-dir", dir, "--junit", junit, "--json", "--no-html"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let checks = try #require(report["checks"] as? [[String: Any]])
        #expect(checks.map { $0["name"] as? String } == ["soak", "crash_cycles"])
        #expect(checks.allSatisfy { $0["success"] as? Bool == true }, "\(checks)")
        let soak = checks[0]["figures"] as? [String: String] ?? [:]
        #expect(soak["requests_lost"] == "0" && soak["requests_wrong"] == "0")
        #expect((Int(soak["faults"] ?? "") ?? 0) >= 1, "the shorter soak still met faults: \(soak)")
        let cycles = checks[1]["figures"] as? [String: String] ?? [:]
        #expect(cycles["cycles"] == "10" && cycles["processes_left_behind"] == "0")
        #expect((report["summary"] as? [String: Any])?["failed_checks"] as? [String] == [])
        let xml = try String(contentsOfFile: junit, encoding: .utf8)
        #expect(xml.components(separatedBy: "<testcase ").count - 1 == 26, "24 scenarios and 2 checks")
    }
}
