import Foundation
import Testing

/// `--devices` and `--browsers-per-device`: browsers spread over physical devices, reported
/// with each device's index and UUID, and rebuilt on their own device after a crash. On lavapipe
/// (one device) `--devices 0,0,0` puts three browsers on device 0, which is what runs here.
@Suite(.serialized) struct DeviceSpreadCLITests {
    static func report(_ r: CLIRunner.Result) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    }

    // Test that --devices 0,0,0 spreads the browsers, reports each context's device (index,
    // UUID) and process, and that a crashed browser comes back on its own device.
    @Test(arguments: ["process", "thread"])
    func devicesSpreadAndACrashComesBackOnItsDevice(isolation: String) throws {
        let r = try CLIRunner.run(["--layers", "3", "--seq-len", "8", "--devices", "0,0,0", "--scenario", "browser_crash",
                                   "--fault-target", "firefox", "--isolation", isolation, "--json", "--no-html",
                                   "--output-dir", RunCLITests.tempDir("devices")])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try Self.report(r)
        let devices = try #require((report["test_info"] as? [String: Any])?["devices"] as? [[String: Any]])
        #expect(devices.map { $0["context"] as? String } == ["chrome", "firefox", "edge"])
        #expect(devices.allSatisfy { $0["index"] as? Int == 0 })
        let uuids = Set(devices.compactMap { $0["uuid"] as? String })
        #expect(uuids.count == 1 && uuids.first?.count == 36, "\(uuids)")
        let scenario = try #require((report["scenarios"] as? [String: Any])?["browser_crash"] as? [String: Any])
        let events = scenario["events"] as? [[String: Any]] ?? []
        let rebuilt = events.filter { $0["context"] as? String == "firefox" && $0["kind"] as? String == "device" }
        #expect(rebuilt.count == 2, "started, then rebuilt: \(rebuilt)")
        #expect(!events.contains { ($0["detail"] as? String)?.contains("is gone") == true }, "its own device was there")
    }

    // Test that --browsers-per-device makes N browsers per listed device.
    @Test func browsersPerDeviceFillsEachDevice() throws {
        let r = try CLIRunner.run(["--layers", "4", "--seq-len", "8", "--devices", "0,0", "--browsers-per-device", "2",
                                   "--browsers", "chrome,firefox", "--scenario", "connection_lost", "--json", "--no-html",
                                   "--output-dir", RunCLITests.tempDir("per-device")])
        #expect(r.status == 0, "\(r.stderr)")
        let info = try #require(try Self.report(r)["test_info"] as? [String: Any])
        #expect(info["browsers"] as? [String] == ["chrome", "firefox", "chrome2", "firefox2"])
    }

    // Test that bad --devices values exit 64 before any scenario, naming the valid ones.
    @Test(arguments: [["--devices", "9"], ["--devices", "0,,1"], ["--devices", "no-such-gpu"], ["--devices", ""],
                      ["--browsers-per-device", "2"], ["--devices", "0", "--browsers-per-device", "0"],
                      ["--crash-limit", "0"], ["--crash-window", "-1"], ["--forgive-after", "0"], ["--treat-as-hardware", "x"]])
    func badDeviceFlagsExit64(_ flags: [String]) throws {
        let dir = RunCLITests.tempDir("bad-devices")
        let r = try CLIRunner.run(flags + ["--output-dir", dir])
        #expect(r.status == 64, "\(flags): \(r.stderr)")
        let last = r.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.contains(flags.first(where: { $0.hasPrefix("--") && $0 != "--devices" }) ?? "--devices") || last.contains("--devices"), "\(r.stderr)")
        if flags.first == "--devices", flags.count == 2, flags[1] != "" { #expect(last.contains("0 (llvmpipe"), "names the valid devices: \(last)") }
        #expect(RunCLITests.reports(in: dir).isEmpty)
    }
}

/// The degradation ladder from the CLI: lavapipe declared a hardware GPU, a browser made to
/// crash again and again across repeated scenarios is demoted, and the report says so.
@Suite(.serialized) struct LadderCLITests {
    @Test func theReportShowsADemotion() throws {
        let r = try CLIRunner.run(["--layers", "3", "--seq-len", "8", "--scenario", "browser_crash", "--fault-target", "chrome",
                                   "--keep-crashing", "1", "--crash-limit", "2", "--treat-as-hardware", "0", "--json", "--no-html",
                                   "--output-dir", RunCLITests.tempDir("ladder")])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let scenario = try #require((report["scenarios"] as? [String: Any])?["browser_crash"] as? [String: Any])
        let demotions = try #require(scenario["demotions"] as? [[String: Any]], "\(scenario.keys)")
        #expect(demotions.count == 1 && demotions[0]["browser"] as? String == "chrome")
        #expect(demotions[0]["from"] as? String == "hardware" && demotions[0]["to"] as? String == "software")
    }
}
