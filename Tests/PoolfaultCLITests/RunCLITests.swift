import FaultTest
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

/// `poolfault run` (the default command) end to end through the built binary, on a reduced
/// bert-base (3 layers — one per browser —, 8 tokens) so each run takes seconds.
@Suite(.serialized) struct RunCLITests {
    static let quick = ["--weights", TinyModel.path, "--seq-len", "8", "--color", "never"]

    static func tempDir(_ name: String) -> String {
        Scratch.root.appendingPathComponent("poolfault-run-\(name)-\(UUID().uuidString)").path
    }

    static func reports(in dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("results_") && $0.hasSuffix(".json") }.sorted()
    }

    @Test func aQuickRunPassesInTheOriginalLayout() throws {
        let dir = Self.tempDir("layout"), junit = dir + "/junit.xml"
        // bert-base itself (3 layers), as the original's layout names it.
        let r = try CLIRunner.run(["--layers", "3", "--seq-len", "8", "--color", "never", "--output-dir", dir, "--junit", junit, "--validate"])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first == String(repeating: "=", count: 80))
        #expect(lines.contains("FAULT TOLERANCE TEST RESULTS - bert-base-uncased"))
        #expect(lines.contains("Recovery Strategy: progressive"))
        let stamp = try Regex("Timestamp: [0-9]{8}_[0-9]{6}")
        #expect(lines.contains { $0.wholeMatch(of: stamp) != nil })
        for name in ["connection_lost", "component_failure", "browser_crash", "multiple_failures"] {
            #expect(lines.contains("SCENARIO: \(name) - ✅ SUCCESS"))
        }
        let phaseLines = lines.filter { $0.hasPrefix("  ✅ ") || $0.hasPrefix("  ❌ ") }
        #expect(phaseLines.count == 24)
        let phaseLine = try Regex("^  [✅❌] [a-z_]{1,20} {0,19} - [0-9]+\\.[0-9]{2}s {1,7}- .+$")
        for line in phaseLines {
            let matched = line.wholeMatch(of: phaseLine) != nil
            #expect(matched, "\(line)")
        }
        #expect(lines.contains("Scenarios: 4/4 successful"))
        #expect(lines.contains("Success Rate: 100.0%"))
        #expect(lines.contains("Overall Result: ✅ SUCCESS"))
        #expect(!r.stdout.contains("\u{1B}["), "no colour with --color never")
        #expect(Self.reports(in: dir).count == 1)
        let xml = try Data(contentsOf: URL(fileURLWithPath: junit))
        let parser = XMLParser(data: xml)
        let counter = TestcaseCounter()
        parser.delegate = counter
        #expect(parser.parse(), "JUnit XML parses")
        #expect(counter.testcases == 4 && counter.failures == 0)
        #expect(counter.classnames == ["bert-base-uncased.progressive"])
        #expect(!r.stderr.contains("validation:"))
    }

    /// A discrete GPU's path on lavapipe: no mapped device memory, every upload and read-back
    /// through a staging buffer and a queue copy.
    @Test func aRunWithStagedUploadsPasses() throws {
        let r = try CLIRunner.run(Self.quick + ["--output-dir", Self.tempDir("staged"), "--validate"],
                                  environment: ["POOLFAULT_STAGED_UPLOADS": "1"])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("Scenarios: 4/4 successful"))
        #expect(!r.stderr.contains("validation:"))
    }

    @Test(arguments: ["simple", "coordinated"])
    func everyStrategyRunsEveryScenario(strategy: String) throws {
        let r = try CLIRunner.run(Self.quick + ["--output-dir", Self.tempDir(strategy), "--recovery-strategy", strategy])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("Recovery Strategy: \(strategy)"))
        #expect(r.stdout.contains("Scenarios: 4/4 successful"))
    }

    @Test func theReportValidatesAgainstTheSchema() throws {
        let dir = Self.tempDir("schema")
        let r = try CLIRunner.run(Self.quick + ["--output-dir", dir, "--scenario", "browser_crash", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect(object?["schema_version"] as? String == FaultTestReport.schemaVersion)
        // 1.2: every phase has its start on the run's clock, in order.
        let scenarios = object?["scenarios"] as? [String: Any] ?? [:]
        for case let scenario as [String: Any] in scenarios.values {
            let byName = scenario["phases"] as? [String: [String: Any]] ?? [:]
            let starts = ["initialize", "initial_inference", "fault_injection", "fault_inference", "recovery", "recovery_inference"]
                .compactMap { byName[$0]?["start"] as? Double }
            #expect(starts.count == 6 && (starts.first ?? -1) >= 0 && starts == starts.sorted(), "phases in order on one clock: \(starts)")
        }
        // What changes timings is recorded: lavapipe's width, OpenBLAS's spin, each context's kernels.
        let info = object?["test_info"] as? [String: Any] ?? [:]
        #expect((info["lavapipe_vector_width"] as? String ?? "").contains("bits"))
        #expect((info["openblas"] as? String ?? "").contains("workers spin"))
        let devices = info["devices"] as? [[String: Any]] ?? []
        #expect(!devices.isEmpty && devices.allSatisfy { ($0["compute"] as? String ?? "").contains("GEMM") }, "\(devices)")
        let file = try #require(Self.reports(in: dir).first)
        let problems = try SchemaCheck.problems(dir + "/" + file)
        #expect(problems == nil, "\(problems ?? "")")
    }

    @Test func twoRunsInTheSameSecondKeepBothReports() async throws {
        let dir = Self.tempDir("twice")
        async let a = Task.detached { try CLIRunner.run(Self.quick + ["--output-dir", dir, "--scenario", "connection_lost"]) }.value
        async let b = Task.detached { try CLIRunner.run(Self.quick + ["--output-dir", dir, "--scenario", "connection_lost"]) }.value
        let (ra, rb) = try await (a, b)
        #expect(ra.status == 0 && rb.status == 0)
        #expect(Self.reports(in: dir).count == 2)
    }

    @Test(arguments: [["--scenario", "disk_full"], ["--recovery-strategy", "optimistic"], ["--model", "gpt-17"],
                      ["--shard-type", "diagonal"], ["--repeat", "0"], ["--webnn", "safari"]])
    func aBadFlagExits64WithTheValidValues(flags: [String]) throws {
        let r = try CLIRunner.run(flags + ["--output-dir", Self.tempDir("bad")])
        #expect(r.status == 64, "\(flags): \(r.stderr)")
        #expect(!r.stderr.isEmpty)
        if flags[0] == "--scenario" { #expect(r.stderr.contains("connection_lost") && r.stderr.contains("multiple_failures")) }
        if flags[0] == "--recovery-strategy" { #expect(r.stderr.contains("progressive") && r.stderr.contains("coordinated")) }
        if flags[0] == "--model" { #expect(r.stderr.contains("bert-base-uncased") && r.stderr.contains("vit-base-patch16-224")) }
    }

    @Test func anUnwritableOutputDirExits2() throws {
        let file = Self.tempDir("file")
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let r = try CLIRunner.run(Self.quick + ["--output-dir", file + "/reports"])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains(file))
    }

    // Test that colour follows --color and, by default, the terminal: on under a pseudo-terminal
    // (util-linux `script` gives the run one), off there under NO_COLOR, off on a pipe.
    @Test func colourIsOnWhenAskedAndOffUnderNO_COLOR() throws {
        let always = try CLIRunner.run(["--weights", TinyModel.path, "--seq-len", "8", "--scenario", "connection_lost", "--color", "always",
                                        "--output-dir", Self.tempDir("c1")])
        #expect(always.stdout.contains("\u{1B}["))
        let piped = try CLIRunner.run(["--weights", TinyModel.path, "--seq-len", "8", "--scenario", "connection_lost", "--output-dir", Self.tempDir("c2")])
        #expect(piped.status == 0 && !piped.stdout.contains("\u{1B}["))
        for noColor in [nil, "1"] as [String?] {
            let command = "'\(CLIRunner.binary.path)' --layers 3 --seq-len 8 --scenario connection_lost --output-dir '\(Self.tempDir("c3"))'"
            let tty = try CLIRunner.run(shell: "script -qec \"$COMMAND\" /dev/null", environment: ["COMMAND": command, "NO_COLOR": noColor, "TERM": "xterm"])
            #expect(tty.status == 0, "\(tty.stdout.suffix(300))")
            #expect(tty.stdout.contains("SUMMARY"), "the run's report came through the terminal: \(tty.stdout.suffix(300))")
            #expect(tty.stdout.contains("\u{1B}[") == (noColor == nil), "NO_COLOR=\(noColor ?? "unset"): \(tty.stdout.suffix(300))")
        }
    }
}

/// Counts JUnit testcases and failures.
final class TestcaseCounter: NSObject, XMLParserDelegate {
    var testcases = 0, failures = 0
    var classnames: Set<String> = []
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        if name == "testcase" {
            testcases += 1
            if let c = attributes["classname"] { classnames.insert(c) }
        }
        if name == "failure" { failures += 1 }
    }
}
