// JUnitReport: the XML parses (FoundationXML's XMLDocument, else XMLParser), has the right
// counts, the failed scenario's failure, the phases in system-out; escaping survives hostile
// messages; writing to an impossible place throws the typed error.

import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import FaultTest
@testable import ResourcePool

@Suite struct JUnitReportTests {
    /// The parts of the XML the tests look at, read by a real XML parser.
    struct Parsed {
        var suites: [String: String] = [:]
        var suite: [String: String] = [:]
        var testcases: [[String: String]] = []
        var failures: [(testcase: String, attributes: [String: String], text: String)] = []
        var systemOut: [String: String] = [:]
    }

    /// Collects elements with XMLParser (present on every platform, unlike XMLDocument).
    final class Collector: NSObject, XMLParserDelegate {
        var parsed = Parsed()
        var text = ""
        var currentCase = ""

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
                    qualifiedName: String?, attributes: [String: String]) {
            text = ""
            switch name {
            case "testsuites": parsed.suites = attributes
            case "testsuite": parsed.suite = attributes
            case "testcase":
                parsed.testcases.append(attributes)
                currentCase = attributes["name"] ?? ""
            case "failure": parsed.failures.append((currentCase, attributes, ""))
            default: break
            }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if name == "failure", !parsed.failures.isEmpty { parsed.failures[parsed.failures.count - 1].text = text }
            if name == "system-out" { parsed.systemOut[currentCase] = text }
        }
    }

    static func parse(_ xml: String) throws -> Parsed {
        let parser = XMLParser(data: Data(xml.utf8))
        let collector = Collector()
        parser.delegate = collector
        let ok = parser.parse()
        try #require(ok, "XML does not parse: \(String(describing: parser.parserError))")
        return collector.parsed
    }

    @Test func countsFailureAndPhases() throws {
        let xml = JUnitReport.xml(ReportFixtures.report)
        let parsed = try Self.parse(xml)
        #expect(parsed.suites["tests"] == "4")
        #expect(parsed.suites["failures"] == "1")
        #expect(parsed.suite["name"] == "poolfault")
        #expect(parsed.suite["tests"] == "4")
        #expect(parsed.suite["failures"] == "1")
        #expect(parsed.suite["timestamp"] == "2026-11-24T23:48:29")
        #expect(parsed.testcases.map { $0["name"] } == ["connection_lost", "component_failure", "browser_crash",
                                                         "multiple_failures"])
        #expect(parsed.testcases.allSatisfy { $0["classname"] == "bert-base-uncased.progressive" })
        // time = sum of the phases: 0.43170619 + 0.412 + 0.0009 + 0.655 + 0.154
        #expect(parsed.testcases.first?["time"] == "1.654")
        #expect(parsed.failures.count == 1)
        let failure = try #require(parsed.failures.first)
        #expect(failure.testcase == "connection_lost")
        #expect(failure.attributes["message"] == "Recovery failed")
        #expect(failure.attributes["type"] == "recovery")
        #expect(failure.text.contains("restart budget of 3 spent"))
        let out = try #require(parsed.systemOut["browser_crash"])
        #expect(out.components(separatedBy: "\n").prefix(6).map { String($0.prefix(24)) } == [
            "  ✅ initialize          ", "  ✅ initial_inference   ", "  ✅ fault_injection     ",
            "  ✅ fault_inference     ", "  ✅ recovery            ", "  ✅ recovery_inference  ",
        ])
        #expect(out.contains("Recovery (progressive): detection 0.4 ms"))
        #expect(!xml.contains("\u{1B}"))
    }

    #if canImport(FoundationXML) || canImport(Darwin)
    @Test func parsesAsADocument() throws {
        let document = try XMLDocument(xmlString: JUnitReport.xml(ReportFixtures.report), options: [])
        #expect(document.rootElement()?.name == "testsuites")
        #expect(try document.nodes(forXPath: "/testsuites/testsuite/testcase").count == 4)
        let failures = try document.nodes(forXPath: "//testcase[failure]/@name").map { $0.stringValue }
        #expect(failures == ["connection_lost"])
        let message = try document.nodes(forXPath: "//failure/@message").first?.stringValue
        #expect(message == "Recovery failed")
    }
    #endif

    @Test func escapesEverythingXMLCannotTakeLiterally() throws {
        var scenario = ReportFixtures.connectionLost
        let hostile = "queue <0> lost & \"gone\" 'now'"
        scenario.phases[4].result.message = hostile + "\n\tsecond line \u{1B}[31m \u{0}"
        var info = ReportFixtures.testInfo
        info.model = "model<&>\"'"
        let xml = JUnitReport.xml(FaultTestReport(testInfo: info, scenarios: [scenario]))
        #expect(xml.contains("queue &lt;0&gt; lost &amp; &quot;gone&quot; &apos;now&apos;"))
        #expect(!xml.contains("\u{1B}"))
        #expect(!xml.contains("\u{0}"))

        let parsed = try Self.parse(xml)
        let failure = try #require(parsed.failures.first)
        // Newline and tab survive in the attribute as character references; the control
        // characters XML cannot carry became U+FFFD.
        #expect(failure.attributes["message"] == hostile + "\n\tsecond line \u{FFFD}[31m \u{FFFD}")
        #expect(parsed.testcases.first?["classname"] == "model<&>\"'.progressive")
        // system-out holds the terminal's one-line form of the message.
        #expect(parsed.systemOut["connection_lost"]?.contains("- " + hostile + " second line [31m") == true)
    }

    @Test func failedVerdictWithoutAFailedPhaseStillFails() throws {
        var scenario = ReportFixtures.browserCrash
        scenario.overallSuccess = false  // e.g. recovery served, but degraded
        let parsed = try Self.parse(JUnitReport.xml(FaultTestReport(testInfo: ReportFixtures.testInfo,
                                                                    scenarios: [scenario])))
        #expect(parsed.suite["failures"] == "1")
        #expect(parsed.failures.first?.attributes["type"] == "verdict")
        #expect(parsed.failures.first?.attributes["message"] == "chrome rebuilt; shard 0 back on chrome")
    }

    @Test func writesAndReplacesTheNamedFile() throws {
        let root = try ReportFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let url = root.appendingPathComponent("ci/reports/poolfault.xml")
        try JUnitReport.write(ReportFixtures.report, to: url)
        let small = FaultTestReport(testInfo: ReportFixtures.testInfo, scenarios: [ReportFixtures.browserCrash])
        try JUnitReport.write(small, to: url)  // CI reruns: the named file is replaced
        #expect(try Self.parse(String(contentsOf: url, encoding: .utf8)).testcases.count == 1)
    }

    @Test func unwritablePathThrowsTheTypedError() throws {
        let root = try ReportFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("plain-file")
        try Data().write(to: file)
        do {
            try JUnitReport.write(ReportFixtures.report, to: file.appendingPathComponent("junit.xml"))
            Issue.record("writing under a regular file succeeded")
        } catch {
            guard case .unwritable = error else {
                Issue.record("expected .unwritable, got \(error)")
                return
            }
            #expect(error.description.contains("--junit"))
        }
    }
}
