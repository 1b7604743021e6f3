import Foundation
import Testing

/// `poolfault soak`: faults under load, every request checked, an SLO verdict.
@Suite(.serialized) struct SoakCLITests {
    static func report(in dir: String) throws -> [String: Any] {
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasPrefix("soak_") })
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))) as? [String: Any])
    }

    // Test that a soak of six faults (each of the six kinds struck, cascading_failure's second
    // crash inside its recovery) and 150 requests (a length no machine's speed changes), and a
    // browser process killed from outside during it, loses no request and answers none wrongly,
    // recovers every fault, and writes the pool's timeline to --trace.
    @Test func aSoakWithEveryFaultAndAnOutsideKillLosesNothing() throws {
        let dir = RunCLITests.tempDir("soak")
        let process = Process()
        process.executableURL = CLIRunner.binary
        process.arguments = ["soak", "--weights", TinyModel.path, "--seq-len", "8", "--fault-count", "6", "--requests", "150", "--clients", "6", "--fault-interval", "1s",
                             "--faults", "connection_lost,component_failure,browser_crash,multiple_failures,gpu_hang,cascading_failure", "--watchdog", "1",
                             "--slo-p99-ratio", "1000", "--slo-availability", "0", "--output-dir", dir, "--validate", "--trace", dir + "/trace.json"]
        var env = ProcessInfo.processInfo.environment
        if env["VK_DRIVER_FILES"] == nil { env["VK_DRIVER_FILES"] = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json" }
        process.environment = env
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }
        // Kill one browser process from outside once the soak is under way: 3 s after its three
        // browsers exist (past its first fault), a browser alive at that moment — not one the
        // pool's own planned crash is tearing down (a kill of that would change nothing).
        var victim: Int32?, since: Date?
        let until = Date().addingTimeInterval(60)
        while victim == nil, Date() < until, process.isRunning {
            let browsers = liveChildProcesses(of: process.processIdentifier)
            if since == nil, browsers.count >= 3 { since = Date() }
            if let since, Date().timeIntervalSince(since) > 3, let pid = browsers.first {
                victim = pid
                kill(pid, SIGKILL)
            } else {
                usleep(50_000)  // polling /proc for the browsers; no work stands behind it
            }
        }
        process.waitUntilExit()
        #expect(victim != nil, "found a browser process to kill")
        #expect(process.terminationStatus == 0)
        let report = try Self.report(in: dir)
        #expect(report["requests_lost"] as? Int == 0 && report["requests_wrong"] as? Int == 0, "\(report["examples"] ?? "")")
        #expect((report["requests"] as? Int ?? 0) >= 150 && report["fault_limit"] as? Int == 6 && report["requests_limit"] as? Int == 150)
        let faults = report["faults"] as? [[String: Any]] ?? []
        #expect(faults.allSatisfy { $0["recovered"] as? Bool == true }, "\(faults)")
        #expect(faults.contains { $0["planned"] as? Bool == false }, "the outside kill was noticed as unplanned: \(faults.map { $0["kind"] ?? "" })")
        let planned = faults.filter { $0["planned"] as? Bool == true }
        #expect(planned.count == 6)
        // Kinds are dealt a round at a time: six faults strike each of the six (FaultDeckTests sweeps the seeds).
        #expect(Set(planned.compactMap { $0["kind"] as? String })
                == ["connection_lost", "component_failure", "browser_crash", "multiple_failures", "gpu_hang", "cascading_failure"], "\(planned)")
        let trace = try String(contentsOfFile: dir + "/trace.json", encoding: .utf8)
        #expect(trace.contains("during recovery's"), "the cascade's second crash is on the timeline")
        let verdict = report["verdict"] as? [String: Any]
        #expect(verdict?["pass"] as? Bool == true, "\(verdict ?? [:])")
    }

    // Test that a breached SLO flips the verdict, exit 1: a p99 ratio of 0.01 (p99 during faults
    // below a hundredth of p99 before them), which no machine's speed can meet.
    @Test func aBreachedSLOFailsTheSoak() throws {
        let dir = RunCLITests.tempDir("soak-slo")
        let r = try CLIRunner.run(["soak", "--weights", TinyModel.path, "--seq-len", "8", "--duration", "4s", "--clients", "4", "--fault-interval", "1s",
                                   "--faults", "browser_crash", "--slo-p99-ratio", "0.01", "--output-dir", dir])
        #expect(r.status == 1, "\(r.stdout)\n\(r.stderr)")
        let report = try Self.report(in: dir)
        let reasons = (report["verdict"] as? [String: Any])?["reasons"] as? [String] ?? []
        #expect(reasons.contains { $0.contains("p99 during faults") }, "\(reasons)")
        #expect(report["requests_lost"] as? Int == 0 && report["requests_wrong"] as? Int == 0)
        // The same soak under the default SLOs would be judged on them: the breach came from the threshold.
        #expect((report["slo_p99_ratio"] as? Double) == 0.01)
    }

    // Test that bad soak values exit 64 before any work, naming the valid values.
    @Test(arguments: [["--duration", "-1"], ["--duration", "soon"], ["--clients", "0"], ["--fault-interval", "0s"],
                      ["--slo-availability", "1.5"], ["--slo-p99-ratio", "0"], ["--slo-p99-ratio", "-1"], ["--faults", "meteor_strike"],
                      ["--faults", "gpu_hang", "--isolation", "thread"],
                      ["--fault-count", "0"], ["--fault-count", "100001"], ["--requests", "0"]])
    func badSoakValuesExit64(_ flags: [String]) throws {
        let dir = RunCLITests.tempDir("soak-bad")
        let r = try CLIRunner.run(["soak"] + flags + ["--output-dir", dir])
        #expect(r.status == 64, "\(flags): \(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir), "no work was done")
    }
}
