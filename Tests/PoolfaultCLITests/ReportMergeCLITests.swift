import Foundation
import Testing

/// `poolfault report merge` end to end: real run, soak and bench recovery reports of two
/// "nodes" (two runs told apart by the scheduler's node name) merge into one fleet verdict whose
/// percentiles equal those of the runs' raw figures pooled; a failed node fails the fleet (exit
/// 1); an unreadable report is refused by name (exit 65); bad flags are usage errors (exit 64).
@Suite(.serialized) struct ReportMergeCLITests {
    static let small = ["--weights", TinyModel.path, "--seq-len", "8"]

    /// Reports of two nodes: node-a a run and a bench recovery; node-b a run and a soak.
    static func twoNodes() throws -> String {
        let dir = RunCLITests.tempDir("fleet")
        for (node, extra) in [("node-a", ["bench", "recovery", "--trials", "2", "--scenario", "browser_crash", "--recovery-strategy", "progressive"]),
                              ("node-b", ["soak", "--duration", "3s", "--clients", "2", "--fault-interval", "1s"])] {
            let env: [String: String?] = ["SLURM_JOB_ID": "900", "SLURMD_NODENAME": node]
            let run = try CLIRunner.run(["run", "--level", "quick", "--no-html", "--output-dir", "\(dir)/\(node)"], environment: env)
            #expect(run.status == 0, "\(node) run: \(run.stderr)")
            let more = try CLIRunner.run(extra + small + ["--output-dir", "\(dir)/\(node)"], environment: env)
            #expect(more.status == 0, "\(node) \(extra[0]): \(more.stderr)")
        }
        return dir
    }

    @Test func runSoakAndBenchReportsOfTwoNodesMergeExactly() throws {
        let dir = try Self.twoNodes()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = "\(dir)/fleet.json"
        let merge = try CLIRunner.run(["report", "merge", dir, "--output", out, "--junit", "\(dir)/fleet.xml", "--html", "\(dir)/fleet.html"])
        #expect(merge.status == 0, "\(merge.stdout)\(merge.stderr)")
        #expect(merge.stdout.contains("FLEET VALIDATION RESULTS - 2 nodes, 4 reports") && merge.stdout.contains("Overall Result: ✅ SUCCESS"))
        let fleet = try FleetChecks.load(URL(fileURLWithPath: out))
        let nodes = fleet["nodes"] as? [[String: Any]] ?? []
        #expect(nodes.map { $0["node"] as? String } == ["node-a", "node-b"])
        #expect(nodes.allSatisfy { ($0["reports"] as? [Any])?.count == 2 && $0["pass"] as? Bool == true })
        let tools = Set(nodes.flatMap { ($0["reports"] as? [[String: Any]] ?? []).compactMap { $0["tool"] as? String } })
        #expect(tools == ["poolfault run", "poolfault soak", "poolfault bench recovery"])
        // The two run reports alone (soak and bench rows share their keys): the fleet's rows are
        // exactly the runs' raw figures pooled.
        let runFiles = try FileManager.default.subpathsOfDirectory(atPath: dir).filter { $0.contains("results_") }.map { "\(dir)/\($0)" }
        #expect(runFiles.count == 2)
        let runsOnly = try CLIRunner.run(["report", "merge"] + runFiles + ["--output", "\(dir)/runs.json"])
        #expect(runsOnly.status == 0, "\(runsOnly.stderr)")
        FleetChecks.expectExactPercentiles(fleet: try FleetChecks.load(URL(fileURLWithPath: "\(dir)/runs.json")),
                                           runReports: try runFiles.map { try FleetChecks.load(URL(fileURLWithPath: $0)) })
        // A second merge ignores the fleet report lying among the reports.
        let again = try CLIRunner.run(["report", "merge", dir, "--output", "\(dir)/fleet2.json"])
        #expect(again.status == 0 && again.stdout.contains("2 nodes, 4 reports"), "\(again.stderr)")
        for view in ["fleet.xml", "fleet.html"] {
            let text = try String(contentsOfFile: "\(dir)/\(view)", encoding: .utf8)
            #expect(text.contains("node-a") && text.contains("node-b"))
        }
        // `bench merge` times merges of copies of a real report, and of made-up ones; a fleet
        // report is no template.
        for template in [[runFiles[0]], [String]()] {
            let bench = try CLIRunner.run(["bench", "merge", "--nodes", "20", "--runs", "1", "--json"] + template.flatMap { ["--template", $0] })
            #expect(bench.status == 0, "\(bench.stderr)")
            let figures = try JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as? [String: Any] ?? [:]
            #expect(figures["sizes"] as? [Int] == [2, 20] && (figures["bytes_per_report"] as? Int ?? 0) > 500, "\(bench.stdout)")
            #expect((figures["median_seconds"] as? [Double])?.count == 2 && figures["meets_target"] is Bool)
        }
        let notANode = try CLIRunner.run(["bench", "merge", "--nodes", "20", "--template", out])
        #expect(notANode.status == 65 && notANode.stderr.contains("a fleet report"), "\(notANode.stderr)")
    }

    @Test func aFailedNodeFailsTheFleetAndUnreadableReportsAreNamed() throws {
        let dir = RunCLITests.tempDir("fleet-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try CLIRunner.run(["run", "--level", "quick", "--no-html", "--output-dir", "\(dir)/good"], environment: ["SLURMD_NODENAME": "n1", "SLURM_JOB_ID": "1"])
        try #require(run.status == 0, "\(run.stderr)")
        let goodFile = try #require(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/good").first { $0.hasPrefix("results_") })
        var report = try FleetChecks.load(URL(fileURLWithPath: "\(dir)/good/\(goodFile)"))
        // The same report from another node, where browser_crash failed.
        var host = report["host"] as! [String: Any]
        var scheduler = host["scheduler"] as! [String: Any]
        scheduler["node"] = "n2"
        host["scheduler"] = scheduler
        report["host"] = host
        var summary = report["summary"] as! [String: Any]
        summary["overall_success"] = false
        summary["failed_scenarios"] = ["browser_crash"]
        report["summary"] = summary
        try FileManager.default.createDirectory(atPath: "\(dir)/failed", withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: report).write(to: URL(fileURLWithPath: "\(dir)/failed/results_x.json"))
        let failed = try CLIRunner.run(["report", "merge", dir, "--output", "\(dir)/fleet.json", "--expect-nodes", "2"])
        #expect(failed.status == 1, "\(failed.stdout)\(failed.stderr)")
        #expect(failed.stdout.contains("NODE: n2 - ❌ FAILED") && failed.stdout.contains("browser_crash"), "\(failed.stdout)")
        #expect(failed.stdout.contains("NODE: n1 - ✅ PASSED"))
        // --expect-nodes 3: a node that never reported fails the fleet too.
        let short = try CLIRunner.run(["report", "merge", "\(dir)/good", "--output", "\(dir)/fleet.json", "--expect-nodes", "3"])
        #expect(short.status == 1 && short.stdout.contains("MISSING: 2 of the 3 expected nodes"), "\(short.stdout)")

        // Unreadable: exit 65, each named.
        let good = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/good/\(goodFile)"))
        var v2 = try FleetChecks.load(URL(fileURLWithPath: "\(dir)/good/\(goodFile)"))
        v2["schema_version"] = "2.0"
        let bad: [String: Data] = ["results_cut.json": good.prefix(good.count / 3), "results_foreign.json": Data("{\"a\": 1}".utf8),
                                   "results_v2.json": try JSONSerialization.data(withJSONObject: v2)]
        for (name, data) in bad {
            try data.write(to: URL(fileURLWithPath: "\(dir)/\(name)"))
            let r = try CLIRunner.run(["report", "merge", "\(dir)/good", "\(dir)/\(name)", "--output", "\(dir)/fleet.json"])
            #expect(r.status == 65 && r.stderr.contains(name), "\(name): exit \(r.status): \(r.stderr)")
            try FileManager.default.removeItem(atPath: "\(dir)/\(name)")
        }
        for args in [["--outlier-factor", "0.5"], ["--expect-nodes", "0"], []] {
            let r = try CLIRunner.run(["report", "merge", "\(dir)/good"] + args + (args.isEmpty ? [] : ["--output", "\(dir)/f.json"]))
            #expect(r.status == 64, "\(args): exit \(r.status) \(r.stderr)")
        }
        let missing = try CLIRunner.run(["report", "merge", "\(dir)/nope", "--output", "\(dir)/f.json"])
        #expect(missing.status == 65 && missing.stderr.contains("\(dir)/nope: no such file or directory"), "\(missing.stderr)")
    }
}
