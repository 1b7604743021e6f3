import Foundation
import Testing

/// The tuner as a user meets it: the first use on a machine measures and keeps the choices,
/// later runs (and their browser processes) read them, `devices` shows them, environment knobs
/// still win, and a cache file that is not this machine's is said, ignored and replaced.
/// (ci/test turns tuning off for every other test; these turn it on with a cache of their own.)
@Suite(.serialized) struct KernelTuningCLITests {
    static let otherBuild = "0.0.1-another-build"

    static func cachePath() -> String { RunCLITests.tempDir("kernel-choices") + "/choices.json" }

    static func environment(_ cache: String, _ more: [String: String?] = [:]) -> [String: String?] {
        ["POOLFAULT_TUNING": "on", "POOLFAULT_KERNEL_CHOICES": cache].merging(more) { $1 }
    }

    /// `devices --json`'s kernel listing of the default device.
    static func kernels(_ stdout: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any]
        return try #require((object?["kernels"] as? [[String: Any]])?.first)
    }

    /// Runs one quick scenario and returns every context's kernels as its report says.
    /// Tokens of the runs that show the choices: enough that no chosen shape is cut to the
    /// sequence (a tile of 50 rows, 4 queries per invocation of 8 or 16 lanes: `GPUKernels`).
    static let tokens = 64

    static func compute(_ cache: String, isolation: String, _ more: [String: String?] = [:]) throws -> (stderr: String, compute: [String]) {
        let r = try CLIRunner.run(["--layers", "3", "--seq-len", "\(tokens)", "--color", "never", "--scenario", "connection_lost", "--isolation", isolation,
                                                       "--output-dir", RunCLITests.tempDir("tuned"), "--json"],
                                  environment: environment(cache, more))
        #expect(r.status == 0, "\(r.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let devices = (object?["test_info"] as? [String: Any])?["devices"] as? [[String: Any]] ?? []
        return (r.stderr, devices.compactMap { $0["compute"] as? String })
    }

    /// Rewrites the kept choices by hand (as another tuning could have found them).
    static func edit(_ cache: String, this machine: Bool = true, _ change: (inout [String: Any]) -> Void) throws {
        var file = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: cache))) as? [String: Any])
        var entries = try #require(file["entries"] as? [[String: Any]])
        let i = try #require(entries.firstIndex { (($0["key"] as? [String: Any])?["poolfault"] as? String != Self.otherBuild) == machine })
        change(&entries[i])
        file["entries"] = entries
        try JSONSerialization.data(withJSONObject: file).write(to: URL(fileURLWithPath: cache))
    }

    // Test that the first tuning measures and keeps the choices, and later runs and browser processes use them.
    @Test func choicesAreMeasuredOnceKeptAndUsedByEveryProcess() throws {
        let cache = Self.cachePath()
        let before = try CLIRunner.run(["devices", "--json"], environment: Self.environment(cache))
        #expect(try Self.kernels(before.stdout)["source"] as? String == "defaulted")

        let tuned = try CLIRunner.run(["devices", "--retune", "--json"], environment: Self.environment(cache))
        #expect(tuned.status == 0, "\(tuned.stderr)")
        #expect(tuned.stderr.contains("measuring kernel variants") && tuned.stderr.contains("kept in \(cache)"), "\(tuned.stderr)")
        let listing = try Self.kernels(tuned.stdout)
        #expect(listing["source"] as? String == "measured")
        let choices = try #require(listing["choices"] as? [String: Any])
        let measurements = choices["measurements"] as? [[String: Any]] ?? []
        #expect(measurements.count == 9 || !(choices["skipped"] as? [String] ?? []).isEmpty, "every candidate timed or named as skipped: \(choices)")
        #expect(FileManager.default.fileExists(atPath: cache))

        let shown = try CLIRunner.run(["devices"], environment: Self.environment(cache))
        #expect(shown.stdout.contains("measured here") && shown.stdout.contains("GFLOP/s"), "\(shown.stdout)")
        #expect(!shown.stderr.contains("measuring"), "a kept measurement is read, not redone: \(shown.stderr)")

        // Kept choices that differ from every default, so their use shows in the report.
        try Self.edit(cache) { entry in
            var c = entry["choices"] as? [String: Any] ?? [:]
            c["texel_rows"] = ["\(Self.tokens)": 50]
            c["attention_queries"] = 4
            c["skipped"] = [String]()  // complete, even if a cold shader cache cut the pass short
            entry["choices"] = c
        }
        let process = try Self.compute(cache, isolation: "process")
        #expect(!process.stderr.contains("measuring"), "\(process.stderr)")
        #expect(!process.compute.isEmpty && process.compute.allSatisfy { $0.contains("50x16") && $0.contains("attention 4 queries") && $0.contains("browser process") },
                "browser processes run the kept choices: \(process.compute)")
        let knobs = try Self.compute(cache, isolation: "thread", ["POOLFAULT_TEXEL_TILE": "33x16", "POOLFAULT_ATTENTION_QUERIES": "1"])
        #expect(!knobs.compute.isEmpty && knobs.compute.allSatisfy { $0.contains("33x16") && $0.contains("attention 1 queries") },
                "environment knobs win over kept choices: \(knobs.compute)")
        let off = try Self.compute(cache, isolation: "thread", ["POOLFAULT_TUNING": "off"])
        #expect(!off.compute.isEmpty && off.compute.allSatisfy { $0.contains("32x16") && $0.contains("attention 2 queries") },
                "POOLFAULT_TUNING=off runs the built-in defaults: \(off.compute)")
    }

    // Test that an unreadable cache and one measured elsewhere are said, ignored and replaced by a measurement here.
    @Test func aCacheThatIsNotThisMachinesIsIgnoredAndMeasuredAgain() throws {
        let cache = Self.cachePath()
        try FileManager.default.createDirectory(atPath: (cache as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try "{ half a file".write(toFile: cache, atomically: true, encoding: .utf8)
        let garbled = try Self.compute(cache, isolation: "thread")
        #expect(garbled.stderr.contains("is not a poolfault kernel-choices file") && garbled.stderr.contains("measuring kernel variants"),
                "\(garbled.stderr)")

        try Self.edit(cache) { entry in
            var key = entry["key"] as? [String: Any] ?? [:]
            key["poolfault"] = Self.otherBuild
            entry["key"] = key
        }
        let foreign = try Self.compute(cache, isolation: "thread")
        #expect(foreign.stderr.contains("measured elsewhere") && foreign.stderr.contains(Self.otherBuild)
                && foreign.stderr.contains("measuring kernel variants"), "\(foreign.stderr)")
        let file = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: cache))) as? [String: Any]
        let entries = file?["entries"] as? [[String: Any]] ?? []
        #expect(entries.count == 2, "the other build's entry is kept beside this one's")

        // A pass that ran out of budget (a cold shader cache) is measured again by the next run.
        try Self.edit(cache) { entry in
            var c = entry["choices"] as? [String: Any] ?? [:]
            c["skipped"] = ["attention s128 4 queries"]
            entry["choices"] = c
        }
        let partial = try Self.compute(cache, isolation: "thread")
        #expect(partial.stderr.contains("ran out of time") && partial.stderr.contains("measuring kernel variants"), "\(partial.stderr)")
    }

    // Test that --retune with tuning turned off is refused as a usage error.
    @Test func retuneWithTuningOffIsAUsageError() throws {
        let r = try CLIRunner.run(["devices", "--retune"], environment: ["POOLFAULT_TUNING": "off"])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("POOLFAULT_TUNING=off"), "\(r.stderr)")
    }
}
