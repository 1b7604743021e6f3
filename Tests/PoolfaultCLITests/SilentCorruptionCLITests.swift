import Foundation
import Testing

/// Silent corruption end to end through the built binary (browser processes, lavapipe): the
/// scenario for every strategy, a device that keeps corrupting (exit 1), `infer` on corrupted
/// weights (exit 1, naming where), a soak whose checks are all off (wrong answers served: exit
/// 1), a clean soak of a thousand requests (no false detection), and `bench corruption`.
@Suite(.serialized) struct SilentCorruptionCLITests {
    static let model = ["--weights", TinyModel.path, "--seq-len", "8", "--color", "never"]

    static func report(in dir: String, prefix: String = "results_") throws -> (path: String, json: [String: Any]) {
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasPrefix(prefix) && $0.hasSuffix(".json") })
        let path = dir + "/" + name
        return (path, try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]))
    }

    @Test(arguments: ["simple", "progressive", "coordinated"])
    func theScenarioPassesForEveryStrategy(strategy: String) throws {
        let dir = RunCLITests.tempDir("sdc-\(strategy)")
        let r = try CLIRunner.run(Self.model + ["--scenario", "silent_corruption", "--recovery-strategy", strategy, "--output-dir", dir, "--validate"])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("Silent corruption:") && r.stdout.contains("0 wrong answers served, 1 caught"), "\(r.stdout)")
        let (path, json) = try Self.report(in: dir)
        #expect(try SchemaCheck.problems(path) == nil)
        let scenario = try #require((json["scenarios"] as? [String: Any])?["silent_corruption"] as? [String: Any])
        let corruption = try #require(scenario["corruption"] as? [String: Any])
        #expect(corruption["wrong_answers_served"] as? Int == 0)
        let detections = try #require(corruption["detections"] as? [[String: Any]])
        let injected = try #require(corruption["injected"] as? [String: Any])
        let fault = try #require(scenario["fault"] as? [String: Any])
        let first = try #require(detections.first)
        // The catch names the context, the shard and the component that was corrupted.
        #expect((fault["targets"] as? [String])?.first == "\(first["context"] as? String ?? ""):\(first["component"] as? String ?? "")")
        #expect(first["shard"] as? Int != nil && first["component"] as? String == injected["component"] as? String)
        #expect((injected["mechanism"] as? String ?? "").contains("device memory"))
        #expect((scenario["recovery"] as? [String: Any])?["contexts_restored"] as? [String] == [first["context"] as? String ?? ""])
    }

    @Test func aDeviceThatKeepsCorruptingFailsTheRunAndIsIsolated() throws {
        let dir = RunCLITests.tempDir("sdc-isolate")
        let r = try CLIRunner.run(Self.model + ["--scenario", "silent_corruption", "--keep-corrupting", "1", "--fault-target", "chrome",
                                                "--output-dir", dir])
        #expect(r.status == 1, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("chrome isolated") && r.stdout.contains("bad hardware"), "\(r.stdout)")
        let (path, json) = try Self.report(in: dir)
        #expect(try SchemaCheck.problems(path) == nil)
        let scenario = (json["scenarios"] as? [String: Any])?["silent_corruption"] as? [String: Any]
        #expect(((scenario?["corruption"] as? [String: Any])?["isolated"] as? [String: String])?["chrome"] != nil)
    }

    /// `infer` on weights corrupted on the device: the checksums fail the forward, naming the
    /// component and tensor; without them the comparison with the CPU reference fails it,
    /// naming the first component whose output is wrong.
    @Test func inferOnCorruptedWeightsFailsNamingWhere() throws {
        let dir = RunCLITests.tempDir("sdc-infer")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let out = dir + "/h.npy"
        let checked = try CLIRunner.run(["infer", "--layers", "2", "--seq-len", "16", "--output", out, "--corrupt", "layer1.feed_forward"])
        #expect(checked.status == 1, "\(checked.stdout)\n\(checked.stderr)")
        #expect(checked.stderr.contains("checksum check in layer1.feed_forward (encoder.layer.1."), "\(checked.stderr)")
        let unchecked = try CLIRunner.run(["infer", "--layers", "2", "--seq-len", "16", "--output", out, "--corrupt", "layer1.feed_forward",
                                           "--abft", "off"])
        #expect(unchecked.status == 1, "\(unchecked.stdout)\n\(unchecked.stderr)")
        #expect(unchecked.stderr.contains("the first wrong output is layer1.feed_forward's"), "\(unchecked.stderr)")
        let clean = try CLIRunner.run(["infer", "--layers", "2", "--seq-len", "16", "--output", out])
        #expect(clean.status == 0, "\(clean.stderr)")
    }

    /// With every check off, corruption reaches clients: the soak counts the wrong answers
    /// served and fails; with the checks on, the same soak catches it and passes.
    @Test(arguments: [false, true])
    func aSoakServesWrongAnswersOnlyWithItsChecksOff(checks: Bool) throws {
        let dir = RunCLITests.tempDir("sdc-soak-\(checks)")
        // Checks on: two corruptions, and requests enough to outlast them (no third is struck).
        // Checks off: one, and the soak goes on until a request begun after it is served.
        let off = checks ? ["--scrub-interval", "2s", "--fault-count", "2", "--requests", "200", "--fault-interval", "500ms"]
                         : ["--verify", "off", "--abft", "off", "--scrub", "off", "--fault-count", "1", "--fault-interval", "1s"]
        let r = try CLIRunner.run(["soak", "--weights", TinyModel.path, "--seq-len", "8", "--clients", "2", "--faults", "silent_corruption",
                                                            "--corruption", "gross", "--slo-p99-ratio", "1000", "--slo-availability", "0",
                                                            "--output-dir", dir] + off)
        let (_, json) = try Self.report(in: dir, prefix: "soak_")
        let corruption = try #require(json["corruption"] as? [String: Any])
        let served = corruption["wrong_answers_served"] as? Int ?? -1
        if checks {
            #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
            #expect(served == 0 && corruption["injected"] as? Int == 2 && corruption["uncaught"] as? Int == 0, "\(corruption)")
        } else {
            #expect(r.status == 1, "\(r.stdout)")
            #expect(corruption["injected"] as? Int == 1 && served > 0 && served == json["requests_wrong"] as? Int, "\(corruption)")
            #expect(r.stdout.contains("never caught") && r.stdout.contains("differ from the CPU reference"), "\(r.stdout)")
        }
    }

    /// Five hundred clean requests (however long the machine takes), every check on and the
    /// weights scrubbed every second: not one detection.
    @Test func aCleanSoakOfFiveHundredRequestsRaisesNoDetection() throws {
        let dir = RunCLITests.tempDir("sdc-clean")
        let r = try CLIRunner.run(["soak", "--weights", TinyModel.path, "--seq-len", "8", "--requests", "500", "--clients", "4", "--fault-interval", "24h",
                                   "--scrub-interval", "1s", "--output-dir", dir])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        let (_, json) = try Self.report(in: dir, prefix: "soak_")
        let corruption = try #require(json["corruption"] as? [String: Any])
        #expect((json["requests"] as? Int ?? 0) >= 500)
        #expect(corruption["requests_verified"] as? Int == json["requests"] as? Int)
        #expect((corruption["detections_by_check"] as? [String: Int])?.isEmpty == true && corruption["unplanned_catches"] as? Int == 0, "\(corruption)")
        #expect((corruption["scrubs"] as? Int ?? 0) >= 1)
    }

    /// Each detector alone, the others off, catches exactly the corruptions the bench with
    /// every detector said it caught (the same seeded trials).
    @Test func eachDetectorAloneCatchesWhatTheBenchSays() throws {
        let common = ["bench", "corruption", "--layers", "2", "--seq-len", "16", "--trials", "9", "--runs", "1", "--json"]
        func caught(_ detectors: String) throws -> (json: [String: Any], byTrial: [[String: Bool]]) {
            let r = try CLIRunner.run(common + ["--detectors", detectors])
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stderr)")
            let trials = try #require(json["corruptions"] as? [[String: Any]])
            return (json, trials.map { $0["caught"] as? [String: Bool] ?? [:] })
        }
        let all = try caught("reference,checksum,scrub")
        let clean = try #require(all.json["clean"] as? [String: Any])
        #expect((clean["false_positives"] as? [String: Int])?.values.allSatisfy { $0 == 0 } == true, "\(clean)")
        for detector in ["reference", "checksum", "scrub"] {
            let alone = try caught(detector)
            #expect(alone.byTrial.map { $0[detector] } == all.byTrial.map { $0[detector] }, "\(detector)")
            #expect(alone.byTrial.allSatisfy { $0.keys.sorted() == [detector] })
        }
        // The scrub finds every corruption of weights; the checksums every gross one of a Linear.
        #expect(all.byTrial.allSatisfy { $0["scrub"] == true })
    }
}
