import Foundation
import Testing

/// `--devices` and `--browsers-per-device`: browsers spread over physical devices, reported
/// with each device's index and UUID, and rebuilt on their own device after a crash. A machine
/// with one device shows two when the loader is given its driver's manifest twice: two physical
/// devices with one UUID — identical GPUs of one model, which must still be told apart.
@Suite(.serialized) struct DeviceSpreadCLITests {
    static func report(_ r: CLIRunner.Result) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    }

    /// VK_DRIVER_FILES naming the software driver's manifest twice (two copies: the loader
    /// takes a path once).
    static func twinDrivers() throws -> String {
        let named = ProcessInfo.processInfo.environment["VK_DRIVER_FILES"]?.split(separator: ":").first.map(String.init)
        let manifest = try #require([named, "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"].compactMap { $0 }
            .first { FileManager.default.fileExists(atPath: $0) }, "no lavapipe manifest: ci/install-deps installs mesa-vulkan-drivers")
        let dir = RunCLITests.tempDir("twin-drivers")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let copies = ["a", "b"].map { "\(dir)/lvp-\($0).json" }
        for copy in copies { try FileManager.default.copyItem(atPath: manifest, toPath: copy) }
        return copies.joined(separator: ":")
    }

    // Test that two devices with one UUID are listed as two, each with an identity of its own
    // (its place among the twins: lavapipe has no PCI bus), and the text says how they are told apart.
    @Test func twinDevicesAreToldApart() throws {
        let twins = try Self.twinDrivers()
        let json = try CLIRunner.run(["devices", "--json"], environment: ["VK_DRIVER_FILES": twins])
        #expect(json.status == 0, "\(json.stderr)")
        let listing = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let devices = try #require(listing["devices"] as? [[String: Any]])
        #expect(devices.count == 2)
        let uuids = devices.compactMap { $0["device_uuid"] as? String }
        #expect(uuids.count == 2 && Set(uuids).count == 1, "one UUID: \(uuids)")
        #expect(devices.compactMap { $0["identity"] as? String } == uuids.enumerated().map { "\($0.element)#\($0.offset)" })
        let text = try CLIRunner.run(["devices"], environment: ["VK_DRIVER_FILES": twins])
        #expect(text.stdout.components(separatedBy: "told apart by its place in the driver's order").count == 3, "\(text.stdout)")
    }

    // Test that --devices 0,1,0 on two devices with one UUID puts each browser on its own
    // device — as the browser (or, in thread isolation, the pool) opened it, not as asked — reports
    // each context's index, UUID and identity, and that a crashed browser comes back on its own
    // device, not on its twin.
    @Test(arguments: ["process", "thread"])
    func devicesSpreadAndACrashComesBackOnItsDevice(isolation: String) throws {
        let dir = RunCLITests.tempDir("devices")
        let r = try CLIRunner.run(["--weights", TinyModel.path, "--seq-len", "8", "--devices", "0,1,0", "--scenario", "browser_crash",
                                   "--fault-target", "firefox", "--isolation", isolation, "--json", "--no-html",
                                   "--output-dir", dir],
                                  environment: ["VK_DRIVER_FILES": try Self.twinDrivers()])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try Self.report(r)
        let devices = try #require((report["test_info"] as? [String: Any])?["devices"] as? [[String: Any]])
        #expect(devices.map { $0["context"] as? String } == ["chrome", "firefox", "edge"])
        #expect(devices.map { $0["index"] as? Int } == [0, 1, 0], "\(devices)")
        let uuids = Set(devices.compactMap { $0["uuid"] as? String })
        #expect(uuids.count == 1 && uuids.first?.count == 36, "\(uuids)")
        #expect(devices.map { ($0["identity"] as? String)?.suffix(2) } == ["#0", "#1", "#0"], "\(devices)")
        let scenario = try #require((report["scenarios"] as? [String: Any])?["browser_crash"] as? [String: Any])
        let events = scenario["events"] as? [[String: Any]] ?? []
        func started(_ context: String) -> [String] {
            events.filter { $0["context"] as? String == context && $0["kind"] as? String == "device" }.compactMap { $0["detail"] as? String }
        }
        let firefox = started("firefox")
        #expect(firefox.count == 2, "started, then rebuilt: \(firefox)")
        #expect(firefox.allSatisfy { $0.contains("(device 1, ") }, "firefox on its own device, twice: \(firefox)")
        #expect((started("chrome") + started("edge")).allSatisfy { $0.contains("(device 0, ") })
        #expect(!events.contains { ($0["detail"] as? String)?.contains("is gone") == true }, "its own device was there")
        let file = try #require(RunCLITests.reports(in: dir).first)
        let problems = try SchemaCheck.problems(dir + "/" + file)
        #expect(problems == nil, "identities and the crash's requests in flight are in the schema: \(problems ?? "")")
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
                      ["--crash-limit", "0"], ["--crash-window", "-1"], ["--forgive-after", "0"], ["--treat-as-hardware", "x"],
                      ["--in-flight", "0"], ["--in-flight", "65"]])
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
        let r = try CLIRunner.run(["--weights", TinyModel.path, "--seq-len", "8", "--scenario", "browser_crash", "--fault-target", "chrome",
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
