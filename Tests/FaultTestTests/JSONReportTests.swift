// JSONReport: order of keys on the raw text, a lossless round trip, non-finite numbers, and
// the file rules (unique names, never overwrite, a typed error for an unwritable place).

import Foundation
import Testing
@testable import FaultTest
@testable import ResourcePool

@Suite struct JSONReportTests {
    static func text(_ report: FaultTestReport) throws -> String {
        String(decoding: try JSONReport.encode(report), as: UTF8.self)
    }

    /// Where each needle first occurs in `text`, failing the test when one is missing.
    static func offsets(of needles: [String], in text: String) -> [Int] {
        needles.map { needle in
            guard let range = text.range(of: needle) else {
                Issue.record("\(needle) not found")
                return -1
            }
            return text.distance(from: text.startIndex, to: range.lowerBound)
        }
    }

    @Test func topLevelKeysScenariosAndPhasesKeepTheirOrder() throws {
        let json = try Self.text(ReportFixtures.report)
        let top = Self.offsets(of: ["\n  \"schema_version\": ", "\n  \"test_info\": {", "\n  \"scenarios\": {",
                                    "\n  \"summary\": {"], in: json)
        #expect(top == top.sorted())
        let scenarios = Self.offsets(of: ["\"connection_lost\": {", "\"component_failure\": {", "\"browser_crash\": {",
                                          "\"multiple_failures\": {"], in: json)
        #expect(scenarios == scenarios.sorted())
        // Inside the last scenario (all six phases ran): phases in phase order.
        let start = try #require(json.range(of: "\"multiple_failures\": {"))
        let multiple = String(json[start.lowerBound...])
        let phases = Self.offsets(of: PhaseName.allCases.map { "\"\($0.rawValue)\": {" }, in: multiple)
        #expect(phases == phases.sorted())
        // Fields as declared, as the original wrote them: scenario first, overall_success last.
        // (Indented six spaces: a scenario's own fields, not the "recovery" phase inside "phases".)
        let fields = Self.offsets(of: ["scenario", "description", "phases", "fault", "recovery", "numerics", "events",
                                       "overall_success"].map { "\n      \"\($0)\": " },
                                  in: multiple)
        #expect(fields == fields.sorted())
    }

    @Test func runOrderIsKeptEvenWhenItIsNotAlphabetical() throws {
        let order = [ReportFixtures.multipleFailures, ReportFixtures.connectionLost, ReportFixtures.browserCrash]
        let report = FaultTestReport(testInfo: ReportFixtures.testInfo, scenarios: order)
        let json = try Self.text(report)
        let offsets = Self.offsets(of: ["\"multiple_failures\": {", "\"connection_lost\": {", "\"browser_crash\": {"],
                                   in: json)
        #expect(offsets == offsets.sorted())
        let decoded = try JSONReport.decode(Data(json.utf8))
        #expect(decoded.scenarios.map(\.scenario) == ["multiple_failures", "connection_lost", "browser_crash"])
        #expect(decoded.summary.runOrder == ["multiple_failures", "connection_lost", "browser_crash"])
    }

    @Test func roundTripsWithoutLoss() throws {
        let original = ReportFixtures.report
        let data = try JSONReport.encode(original)
        let decoded = try JSONReport.decode(data)
        // Re-encoding the decoded report gives the same bytes: nothing was lost or reordered.
        #expect(try JSONReport.encode(decoded) == data)

        #expect(decoded.schemaVersion == FaultTestReport.schemaVersion)
        #expect(decoded.testInfo.devices == original.testInfo.devices)
        #expect(decoded.testInfo.seed == 42)
        #expect(decoded.scenarios.map(\.scenario) == ["connection_lost", "component_failure", "browser_crash",
                                                       "multiple_failures"])
        let lost = try #require(decoded.scenarios.first)
        #expect(lost.phases.map(\.name) == [.initialize, .initialInference, .faultInjection, .faultInference, .recovery])
        #expect(lost.failedPhase?.name == .recovery)
        #expect(lost.phases.first?.result.duration == 0.43170619010925293)
        #expect(lost.recovery?.steps.count == 6)
        #expect(lost.recovery?.steps[1].detail == "VK_ERROR_DEVICE_LOST")
        #expect(lost.recovery?.placementAfter == Placement(contexts: ["firefox", "firefox", "edge"]))
        #expect(lost.fault?.seed == nil)
        #expect(lost.events.first?.context == nil)
        #expect(lost.numerics["fault_inference"]?.maxAbsError == 5.1e-6)
        let multiple = try #require(decoded.scenarios.last)
        #expect(multiple.fault?.parts.map(\.kind) == [.browserCrash, .connectionLost])
        #expect(multiple.fault?.seed == 7)
        #expect(multiple.recovery?.contextsReconnected == ["chrome"])
        #expect(decoded.summary.successfulScenarios == 3)
        #expect(decoded.summary.failedScenarios == ["connection_lost"])
    }

    @Test func snakeCaseMatchesFoundation() throws {
        // JSONDecoder's convertFromSnakeCase must invert our conversion, so it must be Foundation's.
        struct OneKey: Encodable {
            let key: String
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: ReportKey.self)
                try container.encode(1, forKey: ReportKey(key))
            }
        }
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        for key in ["maxAbsError", "relativeL2", "overallSuccess", "t", "already_snake", "myURLKey", "HTTPStatus",
                    "bytesUploaded", "placementBefore", "a1B2", "_private", "x"] {
            let foundation = try JSONSerialization.jsonObject(with: encoder.encode(OneKey(key: key))) as? [String: Int]
            #expect(foundation?.keys.first == OrderedJSONEncoder.snakeCase(key), "\(key)")
        }
    }

    @Test func nonFiniteNumbersNeitherCrashNorBreakTheSchema() throws {
        var scenario = ReportFixtures.browserCrash
        scenario.numerics["fault_inference"] = NumericsRecord(maxAbsError: .infinity, relativeL2: .nan, route: ["cpu"],
                                                              degraded: true, latency: 0.5)
        let report = FaultTestReport(testInfo: ReportFixtures.testInfo, scenarios: [scenario])
        let json = try Self.text(report)
        // The model clamps: a number larger than any tolerance, not a string.
        #expect(json.contains("\"max_abs_error\": 1.7976931348623157e+308"))
        let decoded = try JSONReport.decode(Data(json.utf8))
        #expect(decoded.scenarios.first?.numerics["fault_inference"]?.maxAbsError == .infinity)
        #expect(TerminalReport.render(decoded, color: false).contains("(fault_inference inf, degraded)"))

        // Anything else non-finite is the encoder's safety net: a string, and still no failure.
        var odd = ReportFixtures.browserCrash
        odd.phases[0].result.duration = .nan
        let oddJSON = try Self.text(FaultTestReport(testInfo: ReportFixtures.testInfo, scenarios: [odd]))
        #expect(oddJSON.contains("\"duration\": \"nan\""))
        #expect(try JSONReport.decode(Data(oddJSON.utf8)).scenarios.first?.phases.first?.result.duration.isNaN == true)
    }

    @Test func stringsAreEscaped() throws {
        var scenario = ReportFixtures.browserCrash
        scenario.phases[0].result.message = "quote \" backslash \\ newline \n tab \t bell \u{07} slash / ü"
        let report = FaultTestReport(testInfo: ReportFixtures.testInfo, scenarios: [scenario])
        let json = try Self.text(report)
        #expect(json.contains(#""quote \" backslash \\ newline \n tab \t bell \u0007 slash / ü""#))
        #expect(try JSONReport.decode(Data(json.utf8)).scenarios.first?.phases.first?.result.message
                == scenario.phases[0].result.message)
    }

    @Test func repeatedScenarioNamesKeepEveryResult() throws {
        let report = FaultTestReport(testInfo: ReportFixtures.testInfo,
                                     scenarios: [ReportFixtures.browserCrash, ReportFixtures.browserCrash])
        #expect(report.summary.runOrder == ["browser_crash", "browser_crash_2"])
        let decoded = try JSONReport.decode(try JSONReport.encode(report))
        #expect(decoded.scenarios.map(\.scenario) == ["browser_crash", "browser_crash"])
    }

    @Test func rejectsAnotherMajorSchemaVersion() throws {
        let json = try Self.text(ReportFixtures.report).replacingOccurrences(of: "\"schema_version\": \"\(FaultTestReport.schemaVersion)\"",
                                                                             with: "\"schema_version\": \"2.0\"")
        #expect(throws: DecodingError.self) { try JSONReport.decode(Data(json.utf8)) }
    }

    /// A 1.0 report (before `lavapipe_vector_width`, `openblas` and `devices[].compute`) still reads.
    @Test func readsA1_0ReportWithoutThe1_1Fields() throws {
        var object = try #require(try JSONSerialization.jsonObject(with: try JSONReport.encode(ReportFixtures.report)) as? [String: Any])
        var info = try #require(object["test_info"] as? [String: Any])
        info["lavapipe_vector_width"] = nil
        info["openblas"] = nil
        info["devices"] = (info["devices"] as? [[String: Any]] ?? []).map { var d = $0; d["compute"] = nil; return d }
        object["test_info"] = info
        object["schema_version"] = "1.0"
        let decoded = try JSONReport.decode(try JSONSerialization.data(withJSONObject: object))
        #expect(decoded.testInfo.openblas == nil && decoded.testInfo.devices.allSatisfy { $0.compute == nil })
    }

    @Test func rejectsAnUnknownPhase() throws {
        let json = try Self.text(ReportFixtures.report).replacingOccurrences(of: "\"fault_injection\": {",
                                                                             with: "\"warmup\": {")
        #expect(throws: DecodingError.self) { try JSONReport.decode(Data(json.utf8)) }
    }

    // MARK: files

    @Test func writesIntoANewNestedDirectory() throws {
        let root = try ReportFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = root.appendingPathComponent("a/b/results")
        let url = try JSONReport.write(ReportFixtures.report, toDirectory: directory)
        #expect(url.lastPathComponent == "results_20261124_234829.json")
        #expect(url.deletingLastPathComponent().standardizedFileURL.path == directory.standardizedFileURL.path)
        #expect(try JSONReport.decode(Data(contentsOf: url)).scenarios.count == 4)
    }

    @Test func neverOverwritesTwoWritesInTheSameSecondKeepBoth() throws {
        let directory = try ReportFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try JSONReport.write(ReportFixtures.report, toDirectory: directory)
        let other = FaultTestReport(testInfo: ReportFixtures.testInfo, scenarios: [ReportFixtures.browserCrash])
        let second = try JSONReport.write(other, toDirectory: directory)
        let third = try JSONReport.write(other, toDirectory: directory)
        #expect([first, second, third].map(\.lastPathComponent)
                == ["results_20261124_234829.json", "results_20261124_234829_2.json", "results_20261124_234829_3.json"])
        // The first file still holds the first report.
        #expect(try JSONReport.decode(Data(contentsOf: first)).scenarios.count == 4)
        #expect(try JSONReport.decode(Data(contentsOf: second)).scenarios.count == 1)
    }

    @Test func concurrentWritersEachGetTheirOwnFile() async throws {
        let directory = try ReportFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let names = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<8 {
                group.addTask { try JSONReport.write(ReportFixtures.report, toDirectory: directory).lastPathComponent }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(Set(names).count == 8)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).count == 8)
    }

    @Test func timestampCannotEscapeTheDirectory() {
        var info = ReportFixtures.testInfo
        info.timestamp = "../../etc/passwd"
        let report = FaultTestReport(testInfo: info, scenarios: [])
        #expect(JSONReport.fileName(for: report) == "results_.._.._etc_passwd.json")
    }

    @Test func unwritableDirectoryThrowsTheTypedError() throws {
        let root = try ReportFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("not-a-directory")
        try Data("x".utf8).write(to: file)
        let target = file.appendingPathComponent("results")
        do {
            try JSONReport.write(ReportFixtures.report, toDirectory: target)
            Issue.record("writing under a regular file succeeded")
        } catch {
            guard case .unwritable(let path, let reason) = error else {
                Issue.record("expected .unwritable, got \(error)")
                return
            }
            #expect(path.hasSuffix("not-a-directory/results"))
            #expect(!reason.isEmpty)
            #expect(!error.description.contains("\n"))
            #expect(error.description.contains("--output-dir"))
        }
    }
}
