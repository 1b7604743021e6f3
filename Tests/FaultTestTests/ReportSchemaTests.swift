// The JSON report validates against docs/report.schema.json (JSON Schema 2020-12), checked by
// python3's jsonschema, the reference implementation; and the schema is not vacuous: it
// rejects what the report must never contain. Needs python3 with `pip install jsonschema`:
// without it these tests fail and say so, they never pass silently.

import Foundation
import Testing
import FaultTest

@Suite struct ReportSchemaTests {
    static let schema = ReportFixtures.packageRoot.appendingPathComponent("docs/report.schema.json")

    static let validator = """
        import json, sys
        try:
            import jsonschema
        except ImportError:
            print("the python3 module jsonschema is missing: pip install jsonschema")
            sys.exit(3)
        with open(sys.argv[1]) as f:
            schema = json.load(f)
        jsonschema.Draft202012Validator.check_schema(schema)
        with open(sys.argv[2]) as f:
            document = json.load(f)
        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(document), key=lambda e: list(e.path))
        for error in errors:
            print("/".join(str(p) for p in error.path) + ": " + error.message)
        sys.exit(1 if errors else 0)
        """

    struct Outcome {
        let valid: Bool
        let output: String
    }

    /// Validates `json` with python3 + jsonschema; records an issue (and returns nil) when the
    /// validator itself cannot run.
    static func validate(_ json: Data) throws -> Outcome? {
        let directory = try ReportFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let document = directory.appendingPathComponent("report.json")
        try json.write(to: document)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", validator, schema.path, document.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        do {
            try process.run()
        } catch {
            Issue.record("cannot run python3 (\(error)): install python3, then `pip install jsonschema`")
            return nil
        }
        // read(2) with EINTR retried: Foundation's readDataToEndOfFile traps on an interrupted read.
        var bytes = Data(), buffer = [UInt8](repeating: 0, count: 65536)
        let fd = output.fileHandleForReading.fileDescriptor
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 { bytes.append(contentsOf: buffer[0..<n]); continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        let text = String(decoding: bytes, as: UTF8.self)
        process.waitUntilExit()
        switch process.terminationStatus {
        case 0: return Outcome(valid: true, output: text)
        case 1: return Outcome(valid: false, output: text)
        case 3:
            Issue.record("python3 has no jsonschema module: run `pip install jsonschema` (or apt-get install python3-jsonschema)")
            return nil
        case 127:
            Issue.record("python3 not found: install python3, then `pip install jsonschema`")
            return nil
        default:
            Issue.record("the schema validator failed (status \(process.terminationStatus)): \(text)")
            return nil
        }
    }

    @Test func reportValidatesAgainstTheSchema() throws {
        let outcome = try Self.validate(try JSONReport.encode(ReportFixtures.report))
        #expect(outcome?.valid == true, "\(outcome?.output ?? "")")
    }

    @Test func originalLayoutReportWithNothingOptionalValidates() throws {
        // No fault, no recovery, no numerics, no devices: the optional parts really are optional.
        let outcome = try Self.validate(try JSONReport.encode(OriginalOutputTests.originalReport))
        #expect(outcome?.valid == true, "\(outcome?.output ?? "")")
    }

    @Test func infiniteErrorStillValidates() throws {
        var scenario = ReportFixtures.connectionLost
        scenario.numerics["fault_inference"] = NumericsRecord(maxAbsError: .infinity, relativeL2: .infinity,
                                                              route: ["cpu"], degraded: true, latency: 0.3)
        let report = FaultTestReport(testInfo: ReportFixtures.testInfo, scenarios: [scenario])
        let outcome = try Self.validate(try JSONReport.encode(report))
        #expect(outcome?.valid == true, "\(outcome?.output ?? "")")
    }

    @Test(arguments: [
        ("\"fault_injection\": {", "\"warmup\": {", "warmup"),                      // unknown phase
        ("\"strategy\": \"progressive\"", "\"strategy\": \"yolo\"", "yolo"),         // unknown strategy
        ("\"kind\": \"browser_crash\"", "\"kind\": \"gpu_melted\"", "gpu_melted"),   // unknown fault kind
        ("\"connection_lost\": {", "\"connection_dropped\": {", "connection_dropped"), // unknown scenario
        ("\"overall_success\": false,", "\"overall_success\": false, \"extra\": 1,", "extra"), // stray field
        ("\"timestamp\": \"20261124_234829\"", "\"timestamp\": \"yesterday\"", "yesterday"),
    ])
    func schemaRejects(original: String, replacement: String, culprit: String) throws {
        let json = String(decoding: try JSONReport.encode(ReportFixtures.report), as: UTF8.self)
        #expect(json.contains(original))
        let broken = json.replacingOccurrences(of: original, with: replacement)
        let outcome = try Self.validate(Data(broken.utf8))
        #expect(outcome?.valid == false)
        #expect(outcome?.output.contains(culprit) == true, "\(outcome?.output ?? "")")
    }
}
