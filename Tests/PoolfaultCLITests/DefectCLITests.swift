import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import Transformer

/// One test per defect found by using poolfault as a new user would (issue: "a verdict users
/// can trust"); each failed before its fix. Runs go through the built binary on reduced models.
@Suite(.serialized) struct DefectCLITests {
    static let quick = ["--weights", TinyModel.path, "--seq-len", "8", "--color", "never"]

    static func tempDir(_ name: String) -> String { RunCLITests.tempDir(name) }

    /// True when stderr is one line (README: every error is one line saying what to do).
    static func oneLine(_ text: String) -> Bool { text.split(separator: "\n").count == 1 }

    // 1. The circuit breaker no longer fails a healthy pool: seeds that failed, README's
    //    --webnn example, and a browser with two contexts.
    @Test(arguments: [("1", "progressive"), ("1", "coordinated"), ("15", "progressive"), ("20", "coordinated")])
    func multipleFailuresPassAtSeedsThatFailedBefore(seed: String, strategy: String) throws {
        // The tiny BERT cut to bert-base's 3 reduced layers: the same shards, so the same faults drawn.
        let r = try CLIRunner.run(["run", "--weights", TinyModel.path, "--layers", "3", "--seq-len", "32", "--scenario", "multiple_failures", "--seed", seed,
                                   "--recovery-strategy", strategy, "--output-dir", Self.tempDir("seed"), "--color", "never"])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
    }

    @Test func aBrowserWithTwoContextsIsRebuiltWhole() throws {
        let r = try CLIRunner.run(Self.quick + ["--browsers", "chrome,chrome,firefox", "--scenario", "browser_crash",
                                                "--fault-target", "chrome", "--output-dir", Self.tempDir("chrome2")])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("rebuilt chrome, chrome-2"), "\(r.stdout)")
    }

    // 2. --repeat is bounded and refused up front, never a segfault or an 8 GB allocation.
    @Test(arguments: ["9223372036854775807", "1000000000", "0", "-3"])
    func anAbsurdRepeatIsAUsageError(count: String) throws {
        let r = try CLIRunner.run(Self.quick + ["--repeat", count, "--output-dir", Self.tempDir("repeat")])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("--repeat must be from 1 to 1000") && Self.oneLine(r.stderr), "\(r.stderr)")
    }

    // 3, 4. Every environment knob is validated before any work (exit 64, naming the variable).
    @Test(arguments: [("POOLFAULT_WAIT_TIMEOUT_S", "-1"), ("POOLFAULT_WAIT_TIMEOUT_S", "-0.5"), ("POOLFAULT_WAIT_TIMEOUT_S", "inf"),
                      ("POOLFAULT_WAIT_TIMEOUT_S", "nan"), ("POOLFAULT_WAIT_TIMEOUT_S", "1e300"),
                      ("POOLFAULT_WAIT_TIMEOUT_S", "99999999999"), ("POOLFAULT_WAIT_TIMEOUT_S", "abc"),
                      ("POOLFAULT_TEXEL_TILE", "64x64"), ("POOLFAULT_TEXEL_TILE", "33"), ("POOLFAULT_TEXEL_TILE", "0x16"), ("POOLFAULT_TEXEL_TILE", "33x6"),
                      ("POOLFAULT_GEMM", "fast"), ("POOLFAULT_ATTENTION_QUERIES", "99"), ("POOLFAULT_STAGED_UPLOADS", "maybe"),
                      ("POOLFAULT_VALIDATE", "2"), ("POOLFAULT_LOG_LEVEL", "loud"), ("LP_NATIVE_VECTOR_WIDTH", "300"),
                      ("POOLFAULT_TUNING", "sometimes"), ("POOLFAULT_KERNEL_CHOICES", "")])
    func aBadEnvironmentValueIsRefusedUpFront(name: String, value: String) throws {
        let start = ContinuousClock.now
        let r = try CLIRunner.run(Self.quick + ["--output-dir", Self.tempDir("env")], environment: [name: value])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("\(name)=\"\(value)\"") && r.stderr.contains("expected"), "\(r.stderr)")
        #expect(Self.oneLine(r.stderr) && r.stdout.isEmpty, "\(r.stderr)")
        #expect(ContinuousClock.now - start < .seconds(60), "refused before any work")
    }

    @Test func aGoodEnvironmentValueIsTaken() throws {
        let r = try CLIRunner.run(Self.quick + ["--scenario", "connection_lost", "--output-dir", Self.tempDir("env-ok")],
                                  environment: ["POOLFAULT_WAIT_TIMEOUT_S": "30", "POOLFAULT_TEXEL_TILE": "22x16", "POOLFAULT_LOG_LEVEL": "error"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    // 5. A NaN, infinite or absurd weight is bad input (65, naming the tensor) on every path.
    @Test(arguments: [Float.nan, .infinity, 3e38])
    func aNonFiniteWeightIsADataError(value: Float) throws {
        let dir = try InferCLITests.writeTinyBERT { tensors in
            var t = tensors["encoder.layer.0.attention.self.query.weight"]!
            t.values[17] = value
            tensors["encoder.layer.0.attention.self.query.weight"] = t
        }
        for args in [["infer", "--output", InferCLITests.temp("nan.npy")],
                     ["infer", "--backend", "webnn", "--output", InferCLITests.temp("nan.npy")],
                     ["run", "--browsers", "chrome,firefox", "--scenario", "connection_lost", "--output-dir", Self.tempDir("nan")]] {
            let r = try CLIRunner.run(args + ["--weights", dir.path])
            #expect(r.status == 65, "\(args[0]): \(r.stderr)")
            #expect(r.stderr.contains("encoder.layer.0.attention.self.query.weight") && r.stderr.contains("element 17"), "\(r.stderr)")
        }
    }

    // 5. A header-length field one byte short (the header padded with a space, so it still parses)
    //    would read every tensor one byte off.
    @Test func aHeaderLengthOneByteShortIsADataError() throws {
        let dir = try InferCLITests.writeTinyBERT()
        let file = dir.appendingPathComponent("model.safetensors")
        let bytes = try Data(contentsOf: file)
        let length = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        // Pad the header by one space (real length + 1), then declare the old length.
        var padded = Data(bytes.prefix(8))
        padded.append(bytes[8..<(8 + length)])
        padded.append(UInt8(ascii: " "))
        padded.append(bytes[(8 + length)...])
        try padded.write(to: file)
        let r = try CLIRunner.run(["infer", "--weights", dir.path, "--output", InferCLITests.temp("x.npy")])
        #expect(r.status == 65, "\(r.stderr)")
        #expect(r.stderr.contains("byte(s) after the last tensor"), "\(r.stderr)")
    }

    // 6. Flag values that cannot work are refused up front (64), before any pool is built.
    @Test(arguments: [["--fault-target", "nosuch"], ["--fault-target", "99"], ["--fault-target", "-1"], ["--fault-target", ""],
                      ["--fault-target", "edge", "--webnn", "edge"], ["--webnn", "chrome,firefox,edge"],
                      ["--webnn", "firefox,edge", "--scenario", "multiple_failures"],
                      ["--browsers", "chrome,chrome", "--scenario", "multiple_failures"],
                      ["--browsers", "chrome,chrome", "--scenario", "browser_crash"], ["--browsers", "chrome"],
                      ["--layers", "2"]])
    func aConfigurationThatCannotHostAScenarioIsRefused(flags: [String]) throws {
        let dir = Self.tempDir("refused")
        let r = try CLIRunner.run(["run", "--weights", TinyModel.path, "--seq-len", "8"] + flags + ["--output-dir", dir])
        #expect(r.status == 64, "\(flags): \(r.stderr)")
        #expect(Self.oneLine(r.stderr) && !r.stderr.contains("Usage"), "\(r.stderr)")
        #expect(RunCLITests.reports(in: dir).isEmpty, "no scenario ran")
    }

    // 7. bench recovery never calls a target met when recoveries failed.
    @Test func benchRecoveryDoesNotMeetATargetWithFailedTrials() throws {
        let refused = try CLIRunner.run(["bench", "recovery", "--trials", "1", "--browsers", "chrome,chrome", "--scenario", "browser_crash"])
        #expect(refused.status == 64, "\(refused.stderr)")
        let r = try CLIRunner.run(["bench", "recovery", "--weights", TinyModel.path, "--seq-len", "8", "--trials", "1", "--scenario", "browser_crash",
                                   "--recovery-strategy", "progressive", "--keep-crashing", "5"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("NOT met (1 of 1 recoveries failed"), "\(r.stdout)")
        #expect(!r.stdout.contains(": met"), "\(r.stdout)")
    }

    // 8. An unwritable --junit is found before the work, and nothing is written.
    @Test func anUnwritableJUnitIsRefusedBeforeTheWork() throws {
        let dir = Self.tempDir("junit")
        let r = try CLIRunner.run(Self.quick + ["--output-dir", dir, "--junit", "/proc/poolfault-nope/junit.xml"])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("/proc/poolfault-nope/junit.xml") && Self.oneLine(r.stderr), "\(r.stderr)")
        #expect(r.stdout.isEmpty && RunCLITests.reports(in: dir).isEmpty)
    }

    // 9. One file for both infer outputs is refused.
    @Test func inferRefusesOneFileForBothOutputs() throws {
        let out = InferCLITests.temp("same.npy")
        let r = try CLIRunner.run(["infer", "--layers", "1", "--seq-len", "8", "--output", out, "--pooler-output", out])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("same file"), "\(r.stderr)")
    }

    // 10. A shader cache Mesa cannot write is reported as disabled, not "enabled".
    @Test func anUnwritableShaderCacheIsReportedDisabled() throws {
        let r = try CLIRunner.run(Self.quick + ["--scenario", "connection_lost", "--json", "--output-dir", Self.tempDir("cache")],
                                  environment: ["MESA_SHADER_CACHE_DIR": "/etc/hostname/mesa"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let cache = (report?["test_info"] as? [String: Any])?["shader_cache"] as? String ?? ""
        #expect(cache.hasPrefix("disabled"), "\(cache)")
    }

    // 11. With 2>&1 the stderr line never lands inside a report line.
    @Test func stderrLinesStayWholeWithStdoutOnTheSameFile() throws {
        let args = ([CLIRunner.binary.path] + Self.quick + ["--scenario", "connection_lost", "--output-dir", Self.tempDir("merged")])
            .map { "'\($0)'" }.joined(separator: " ")
        let r = try CLIRunner.run(shell: "\(args) 2>&1")
        #expect(r.status == 0, "\(r.stdout)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("poolfault: JSON report written to ") }, "\(r.stdout)")
        #expect(lines.filter { $0.contains("poolfault: ") }.allSatisfy { $0.hasPrefix("poolfault: ") }, "\(r.stdout)")
        #expect(lines.contains("Overall Result: ✅ SUCCESS"))
    }

    // 12. Results that cannot be written to stdout fail the run (exit 2).
    @Test func aFailedWriteToStdoutIsAFailure() throws {
        let args = ([CLIRunner.binary.path] + Self.quick + ["--scenario", "connection_lost", "--json", "--output-dir", Self.tempDir("full")])
            .map { "'\($0)'" }.joined(separator: " ")
        let r = try CLIRunner.run(shell: "\(args) > /dev/full")
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("could not write the results to standard output"), "\(r.stderr)")
    }

    // 13. Messages: one line, in the user's terms.
    @Test func parseErrorsAreOneLine() throws {
        for args in [["run", "--bogus"], ["run", "--scenario", "nosuch"], ["infer"], ["run", "--layers"]] {
            let r = try CLIRunner.run(args)
            #expect(r.status == 64, "\(args): \(r.stderr)")
            #expect(Self.oneLine(r.stderr) && r.stderr.hasPrefix("poolfault: "), "\(args): \(r.stderr)")
        }
    }

    @Test func aNegativeLayerCountSaysSo() throws {
        let r = try CLIRunner.run(["run", "--layers", "-1"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("--layers must be at least 1"), "\(r.stderr)")
    }

    @Test func fileErrorsUseTheOSWords() throws {
        let dir = Self.tempDir("isdir")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let r = try CLIRunner.run(["infer", "--layers", "1", "--seq-len", "8", "--backend", "webnn", "--output", dir])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(!r.stderr.contains("NSCocoaErrorDomain") && r.stderr.contains("a directory"), "\(r.stderr)")
    }

    @Test func aFIFOAsInputIsNamedAsOne() throws {
        let fifo = InferCLITests.temp("input.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        let r = try CLIRunner.run(["infer", "--layers", "1", "--seq-len", "8", "--input", fifo, "--output", InferCLITests.temp("x.npy")])
        #expect(r.status != 0)
        #expect(r.stderr.contains("named pipe") && !r.stderr.contains("permission"), "\(r.stderr)")
    }

    @Test func anInputPastThePositionLimitSaysTruncate() throws {
        let input = InferCLITests.temp("long.json")
        let ids = (0..<600).map { _ in "101" }.joined(separator: ",")
        try Data(#"{"input_ids": [[\#(ids)]]}"#.utf8).write(to: URL(fileURLWithPath: input))
        let r = try CLIRunner.run(["infer", "--layers", "1", "--input", input, "--output", InferCLITests.temp("x.npy")])
        #expect(r.status == 65, "\(r.stderr)")
        #expect(r.stderr.contains("position limit is 512") && !r.stderr.contains("raise"), "\(r.stderr)")
    }

    @Test func aShardCountTooBigForTheModelNamesTheFlags() throws {
        let r = try CLIRunner.run(["run", "--layers", "2", "--seq-len", "8", "--browsers", "chrome,firefox,edge"])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("--layers 3 or more") && r.stderr.contains("--shard-type") && !r.stderr.contains("impossible"),
                "\(r.stderr)")
    }

    // A run that must fail: a browser that keeps crashing past the restart budget. ❌, exit 1,
    // the JSON verdict and the JUnit failure.
    @Test func aBrowserThatKeepsCrashingFailsTheRun() throws {
        let dir = Self.tempDir("fail"), junit = dir + "/junit.xml"
        let r = try CLIRunner.run(Self.quick + ["--scenario", "browser_crash", "--fault-target", "chrome", "--keep-crashing", "5",
                                                "--output-dir", dir, "--junit", junit])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stdout.contains("SCENARIO: browser_crash - ❌ FAILURE"))
        #expect(r.stdout.contains("❌ recovery") && r.stdout.contains("restart budget spent, 3 rebuilds tried"), "\(r.stdout)")
        #expect(r.stdout.contains("Overall Result: ❌ FAILURE"))
        let report = try #require(RunCLITests.reports(in: dir).first)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/" + report))) as? [String: Any]
        let summary = json?["summary"] as? [String: Any]
        #expect(summary?["overall_success"] as? Bool == false, "\(summary ?? [:])")
        let xml = try Data(contentsOf: URL(fileURLWithPath: junit))
        let counter = TestcaseCounter()
        let parser = XMLParser(data: xml)
        parser.delegate = counter
        #expect(parser.parse())
        #expect(counter.testcases == 1 && counter.failures == 1)
    }

    // And `infer` on corrupted weights: exit 65, nothing written.
    @Test func inferOnCorruptedWeightsFailsAndWritesNothing() throws {
        let dir = try InferCLITests.writeTinyBERT { $0["embeddings.LayerNorm.weight"]!.values[0] = .nan }
        let out = InferCLITests.temp("corrupt.npy")
        let r = try CLIRunner.run(["infer", "--weights", dir.path, "--output", out])
        #expect(r.status == 65, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    // --validate is honoured by every subcommand that takes it: a clean run says nothing, and
    // with the layer's best-practices checks on (they warn about our small allocations) the
    // messages are printed and the command exits 1, as `run` does. POOLFAULT_VALIDATE (which
    // ci/test sets) is removed from the child's environment: the flag alone must turn it on.
    // `bench recovery` runs each isolation alone, so neither half stands in for the other.
    @Test(arguments: [["--weights", TinyModel.path, "--seq-len", "8", "--scenario", "connection_lost", "--recovery-strategy", "simple", "--output-dir", "DIR"],
                      ["soak", "--weights", TinyModel.path, "--seq-len", "8", "--requests", "8", "--fault-count", "1", "--faults", "connection_lost",
                       "--clients", "2", "--fault-interval", "100ms", "--slo-p99-ratio", "1000", "--slo-availability", "0", "--output-dir", "DIR"],
                      ["infer", "--layers", "1", "--seq-len", "8", "--output", "DIR/v.npy"],
                      ["bench", "forward", "--layers", "1", "--seq-len", "8", "--runs", "1"],
                      ["bench", "recovery", "--weights", TinyModel.path, "--seq-len", "8", "--trials", "1", "--scenario", "connection_lost",
                       "--recovery-strategy", "simple", "--isolation", "process"],
                      ["bench", "recovery", "--weights", TinyModel.path, "--seq-len", "8", "--trials", "1", "--scenario", "connection_lost",
                       "--recovery-strategy", "simple", "--isolation", "thread"],
                      ["bench", "corruption", "--layers", "2", "--seq-len", "8", "--trials", "2", "--runs", "1"],
                      ["bench", "kernels", "--runs", "1"],
                      ["bench", "vulkan", "--runs", "1"]])
    func validateIsReadBy(args: [String]) throws {
        func command() -> [String] {
            let dir = RunCLITests.tempDir("validate")
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            return args.map { $0.replacingOccurrences(of: "DIR", with: dir) } + ["--validate"]
        }
        let clean = try CLIRunner.run(command(), environment: ["POOLFAULT_VALIDATE": nil])
        #expect(clean.status == 0, "\(args): \(clean.stderr)")
        #expect(!clean.stderr.contains("validation"), "\(clean.stderr)")
        let warned = try CLIRunner.run(command(), environment: ["POOLFAULT_VALIDATE": nil,
                                                                "VK_LAYER_ENABLES": "VK_VALIDATION_FEATURE_ENABLE_BEST_PRACTICES_EXT"])
        #expect(warned.stderr.contains("validation: ") && warned.stderr.contains("BestPractices"), "\(args): \(warned.stderr.suffix(300))")
        #expect(warned.status == 1, "\(args): \(warned.status)")
    }

    // Test that the layer's messages raised inside a browser process reach the run: a worker
    // that misuses Vulkan once, or leaks a buffer (reported only when its device is destroyed,
    // which a worker does when the pool ends it in order), fails the run with exit 1, naming the
    // browser's process and the message.
    @Test(arguments: [("invalid", "VUID-VkBufferCreateInfo-size-00912"), ("leak", "has not been destroyed")])
    func aValidationMessageInABrowserProcessFailsTheRun(misuse: String, message: String) throws {
        let r = try CLIRunner.run(["--weights", TinyModel.path, "--seq-len", "8", "--scenario", "connection_lost", "--validate", "--vulkan-misuse", misuse,
                                   "--output-dir", RunCLITests.tempDir("misuse")], environment: ["POOLFAULT_VALIDATE": nil])
        #expect(r.status == 1, "\(r.stderr)")
        let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("validation: ") }
        #expect(lines.contains { $0.contains("browser process chrome (pid ") && $0.contains(message) }, "\(r.stderr.suffix(800))")
        #expect(r.stdout.contains("Overall Result: ✅ SUCCESS"), "the scenario itself passed: only the layer failed the run")
    }

    // `devices` makes no device, so the layer has nothing to say: it reports whether it is on.
    @Test func validateIsReadByDevices() throws {
        for flag in [true, false] {
            let r = try CLIRunner.run(["devices", "--json"] + (flag ? ["--validate"] : []), environment: ["POOLFAULT_VALIDATE": nil])
            let listing = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
            #expect(r.status == 0 && listing?["validation"] as? Bool == flag, "--validate \(flag): \(r.stdout.prefix(200)) \(r.stderr)")
        }
    }
}
