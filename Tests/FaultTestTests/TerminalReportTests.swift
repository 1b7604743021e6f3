// TerminalReport: the original tool's layout to the character (golden text), the phase line
// format, colour only when asked, and our devices/recovery lines.

import Foundation
import Testing
@testable import FaultTest
@testable import ResourcePool

@Suite struct TerminalReportTests {
    /// The original's layout (seed/original-terminal-output.txt) with our two lines per scenario.
    /// connection_lost's recovery failed, so its recovery_inference never ran and is absent.
    static let golden = """
        ================================================================================
        FAULT TOLERANCE TEST RESULTS - bert-base-uncased
        Recovery Strategy: progressive
        Timestamp: 20261124_234829
        ================================================================================

        SCENARIO: connection_lost - ❌ FAILURE
        Description: Browser connection loss scenario

        Test Phases:
          ✅ initialize           - 0.43s    - Initialization succeeded
          ✅ initial_inference    - 0.41s    - Initial inference successful
          ✅ fault_injection      - 0.00s    - Fault injection success
          ✅ fault_inference      - 0.66s    - Inference with fault succeeded (fault tolerance working)
          ❌ recovery             - 0.15s    - Recovery failed
          Devices: chrome=llvmpipe (LLVM 15.0.6, 256 bits), firefox=llvmpipe (LLVM 15.0.6, 256 bits), edge=CPU (oneDNN) · max abs error 4.6e-06 (fault_inference 5.1e-06)
          Recovery (progressive): detection 0.4 ms · queue_creation 3.6 ms · backoff 150 ms · 0 B re-uploaded · 3 attempts · degraded

        SCENARIO: component_failure - ✅ SUCCESS
        Description: Model component failure scenario

        Test Phases:
          ✅ initialize           - 0.36s    - Initialization succeeded
          ✅ initial_inference    - 0.40s    - Initial inference successful
          ✅ fault_injection      - 0.00s    - Fault injection success
          ✅ fault_inference      - 0.70s    - Inference with fault succeeded (fault tolerance working)
          ✅ recovery             - 0.16s    - Recovery succeeded
          ✅ recovery_inference   - 0.41s    - Post-recovery inference successful
          Devices: chrome=llvmpipe (LLVM 15.0.6, 256 bits), firefox=llvmpipe (LLVM 15.0.6, 256 bits), edge=CPU (oneDNN) · max abs error 4.6e-06 (fault_inference 4.9e-06)
          Recovery (progressive): detection 0.3 ms · pipeline_creation 21 ms · weight_upload 9.0 MiB 18 ms · verification 120 ms · 9.0 MiB re-uploaded

        SCENARIO: browser_crash - ✅ SUCCESS
        Description: Complete browser crash scenario

        Test Phases:
          ✅ initialize           - 0.17s    - Initialization succeeded
          ✅ initial_inference    - 0.40s    - Initial inference successful
          ✅ fault_injection      - 0.00s    - Fault injection success
          ✅ fault_inference      - 1.20s    - Inference with fault succeeded (fault tolerance working)
          ✅ recovery             - 0.53s    - Recovery succeeded
          ✅ recovery_inference   - 0.40s    - Post-recovery inference successful
          Devices: chrome=llvmpipe (LLVM 15.0.6, 256 bits), firefox=llvmpipe (LLVM 15.0.6, 256 bits), edge=CPU (oneDNN) · max abs error 4.6e-06 (fault_inference 5.1e-06)
          Recovery (progressive): detection 0.4 ms · device_creation 2.1 ms · pipeline_creation 55 ms · weight_upload 140 MiB 310 ms · first_dispatch 40 ms · verification 120 ms · rebuilt chrome · 140 MiB re-uploaded

        SCENARIO: multiple_failures - ✅ SUCCESS
        Description: Multiple simultaneous failures scenario

        Test Phases:
          ✅ initialize           - 0.44s    - Initialization succeeded
          ✅ initial_inference    - 0.41s    - Initial inference successful
          ✅ fault_injection      - 0.00s    - Fault injection success
          ✅ fault_inference      - 2.31s    - Inference with fault succeeded (fault tolerance working)
          ✅ recovery             - 0.47s    - Recovery succeeded
          ✅ recovery_inference   - 0.40s    - Post-recovery inference successful
          Devices: chrome=llvmpipe (LLVM 15.0.6, 256 bits), firefox=llvmpipe (LLVM 15.0.6, 256 bits), edge=CPU (oneDNN) · max abs error 4.6e-06 (fault_inference 1.2e-05, degraded)
          Recovery (progressive): detection 0.5 ms · queue_creation 0.9 ms · device_creation 2.3 ms · pipeline_creation 61 ms · weight_upload 140 MiB 290 ms · verification 118 ms · rebuilt firefox · reconnected chrome · 140 MiB re-uploaded · 2 attempts

        ================================================================================
        SUMMARY:
        Scenarios: 3/4 successful
        Success Rate: 75.0%
        Overall Result: ❌ FAILURE
        ================================================================================
        """

    @Test func rendersTheOriginalLayoutExactly() {
        let text = TerminalReport.render(ReportFixtures.report, color: false)
        #expect(text == Self.golden)
        if text != Self.golden {
            // Point at the first differing line: a diff of 60 lines is hard to read in a log.
            let got = text.components(separatedBy: "\n"), want = Self.golden.components(separatedBy: "\n")
            for (i, pair) in zip(got, want).enumerated() where pair.0 != pair.1 {
                Issue.record("line \(i + 1):\n got: \(pair.0.debugDescription)\nwant: \(pair.1.debugDescription)")
                break
            }
        }
    }

    @Test func phaseLinesPadNameTo20AndDurationTo8() throws {
        let line = #/^  (?:✅|❌) (?<name>[a-z_]+ *) - (?<seconds>[0-9]+\.[0-9]{2}s *) - (?<message>\S.*)$/#
        let text = TerminalReport.render(ReportFixtures.report, color: false)
        let phaseLines = text.split(separator: "\n").filter { $0.hasPrefix("  ✅") || $0.hasPrefix("  ❌") }
        #expect(phaseLines.count == 5 + 6 + 6 + 6)
        for phaseLine in phaseLines {
            let match = try #require(try line.wholeMatch(in: String(phaseLine)), "\(phaseLine)")
            #expect(match.name.count == 20)
            #expect(match.seconds.count == 8)
            #expect(PhaseName(rawValue: match.name.trimmingCharacters(in: .whitespaces)) != nil)
        }
    }

    @Test func longValuesAreNotTruncated() {
        let phase = Phase(.initialize, PhaseResult(success: false, duration: 12345.678, message: "took long"))
        #expect(TerminalReport.phaseLine(phase, color: false) == "  ❌ initialize           - 12345.68s - took long")
    }

    @Test func colourOnlyWhenAsked() {
        let plain = TerminalReport.render(ReportFixtures.report, color: false)
        let coloured = TerminalReport.render(ReportFixtures.report, color: true)
        #expect(!plain.contains("\u{1B}"))
        let green = "\u{1B}[32m", red = "\u{1B}[31m", reset = "\u{1B}[0m"
        #expect(coloured.contains("SCENARIO: connection_lost - \(red)❌ FAILURE\(reset)"))
        #expect(coloured.contains("SCENARIO: browser_crash - \(green)✅ SUCCESS\(reset)"))
        #expect(coloured.contains("  \(green)✅\(reset) initialize           - 0.43s    - Initialization succeeded"))
        #expect(coloured.contains("  \(red)❌\(reset) recovery             - 0.15s    - Recovery failed"))
        #expect(coloured.contains("Overall Result: \(red)❌ FAILURE\(reset)"))
        // Colour adds escape codes and nothing else.
        let stripped = coloured.replacingOccurrences(of: green, with: "").replacingOccurrences(of: red, with: "")
            .replacingOccurrences(of: reset, with: "")
        #expect(stripped == plain)
    }

    @Test func allPassedSaysSuccess() {
        let report = FaultTestReport(testInfo: ReportFixtures.testInfo, scenarios: [ReportFixtures.browserCrash])
        let text = TerminalReport.render(report, color: false)
        #expect(text.hasSuffix("""
            SUMMARY:
            Scenarios: 1/1 successful
            Success Rate: 100.0%
            Overall Result: ✅ SUCCESS
            ================================================================================
            """))
    }

    @Test func messagesCannotBreakTheLayoutOrSmuggleEscapes() {
        let phase = Phase(.recovery, PhaseResult(success: false, duration: 0.5,
                                                 message: "VK_ERROR_DEVICE_LOST\n\tat vkQueueSubmit \u{1B}[31mred\u{1B}[0m"))
        #expect(TerminalReport.phaseLine(phase, color: false)
                == "  ❌ recovery             - 0.50s    - VK_ERROR_DEVICE_LOST at vkQueueSubmit [31mred[0m")
    }

    @Test func numericsLine() {
        let inf = NumericsRecord(maxAbsError: .infinity, relativeL2: .infinity, route: ["cpu"], degraded: true, latency: 1)
        let ok = NumericsRecord(maxAbsError: 4.6e-6, relativeL2: 1e-7, route: ["chrome"], degraded: false, latency: 1)
        #expect(TerminalReport.numericsText([:]) == nil)
        #expect(TerminalReport.numericsText(["initial_inference": ok, "recovery_inference": inf])
                == "max abs error inf")
        #expect(TerminalReport.numericsText(["initial_inference": ok, "fault_inference": inf])
                == "max abs error 4.6e-06 (fault_inference inf, degraded)")
        #expect(TerminalReport.numericsText(["fault_inference": ok]) == "max abs error (fault_inference 4.6e-06)")
    }

    @Test func recoveryLineSumsStepsOfTheSameName() throws {
        let text = TerminalReport.recoveryText(try #require(ReportFixtures.browserCrash.recovery))
        #expect(text == "Recovery (progressive): detection 0.4 ms · device_creation 2.1 ms · pipeline_creation 55 ms"
                + " · weight_upload 140 MiB 310 ms · first_dispatch 40 ms · verification 120 ms · rebuilt chrome"
                + " · 140 MiB re-uploaded")
    }

    @Test func formats() {
        #expect(ReportFormat.bytes(0) == "0 B")
        #expect(ReportFormat.bytes(1023) == "1023 B")
        #expect(ReportFormat.bytes(32 * 1024) == "32 KiB")
        #expect(ReportFormat.bytes(146_800_640) == "140 MiB")
        #expect(ReportFormat.bytes(1536 * 1024 * 1024) == "1.5 GiB")
        #expect(ReportFormat.milliseconds(0.0004) == "0.4 ms")
        #expect(ReportFormat.milliseconds(0.31) == "310 ms")
        #expect(ReportFormat.milliseconds(1.25) == "1.25 s")
        #expect(ReportFormat.milliseconds(.nan) == "?")
        #expect(ReportFormat.scientific(4.6e-6) == "4.6e-06")
        #expect(ReportFormat.scientific(.infinity) == "inf")
    }

    // Test the colour decision on a real terminal (a pseudo-terminal), where colour is on unless
    // NO_COLOR or TERM=dumb says otherwise, and on a pipe, where it is always off.
    @Test func colourDecision() throws {
        // /dev/ptmx by hand (Glibc's posix_openpt family is not imported): unlock the pair
        // (TIOCSPTLCK), then open the terminal end by its number (TIOCGPTN).
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        try #require(master >= 0, "no pseudo-terminal: \(String(cString: strerror(errno)))")
        defer { close(master) }
        var unlock: Int32 = 0, number: UInt32 = 0
        try #require(ioctl(master, UInt(0x4004_5431), &unlock) == 0 && ioctl(master, UInt(0x8004_5430), &number) == 0)
        let terminal = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY)
        try #require(terminal >= 0 && isatty(terminal) == 1)
        defer { close(terminal) }
        #expect(TerminalReport.colorEnabled(environment: [:], fileDescriptor: terminal))
        #expect(TerminalReport.colorEnabled(environment: ["NO_COLOR": ""], fileDescriptor: terminal), "an empty NO_COLOR does not count")
        #expect(!TerminalReport.colorEnabled(environment: ["NO_COLOR": "1"], fileDescriptor: terminal))
        #expect(!TerminalReport.colorEnabled(environment: ["TERM": "dumb"], fileDescriptor: terminal))
        let pipe = Pipe()
        #expect(!TerminalReport.colorEnabled(environment: [:], fileDescriptor: pipe.fileHandleForWriting.fileDescriptor))
    }
}
