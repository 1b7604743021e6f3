// The original tool's own output (seed/original-terminal-output.txt), reproduced byte for byte
// from the data of its JSON report (seed/original-report-sample.json). Without devices,
// numerics or a recovery record our extra lines are absent, so nothing may differ.

import Testing
import FaultTest

@Suite struct OriginalOutputTests {
    static let original = """
        ================================================================================
        FAULT TOLERANCE TEST RESULTS - bert-base-uncased
        Recovery Strategy: progressive
        Timestamp: 20261124_234829
        ================================================================================

        SCENARIO: connection_lost - ❌ FAILURE
        Description: Browser connection loss scenario

        Test Phases:
          ✅ initialize           - 0.43s    - Initialization succeeded
          ✅ initial_inference    - 0.00s    - Initial inference successful
          ✅ fault_injection      - 0.00s    - Fault injection success
          ✅ fault_inference      - 0.00s    - Inference with fault succeeded (fault tolerance working)
          ❌ recovery             - 0.00s    - Recovery failed
          ✅ recovery_inference   - 0.00s    - Post-recovery inference successful

        SCENARIO: component_failure - ✅ SUCCESS
        Description: Model component failure scenario

        Test Phases:
          ✅ initialize           - 0.36s    - Initialization succeeded
          ✅ initial_inference    - 0.00s    - Initial inference successful
          ✅ fault_injection      - 0.00s    - Fault injection success
          ✅ fault_inference      - 0.00s    - Inference with fault succeeded (fault tolerance working)
          ✅ recovery             - 0.00s    - Recovery succeeded
          ✅ recovery_inference   - 0.00s    - Post-recovery inference successful

        SCENARIO: browser_crash - ✅ SUCCESS
        Description: Complete browser crash scenario

        Test Phases:
          ✅ initialize           - 0.17s    - Initialization succeeded
          ✅ initial_inference    - 0.00s    - Initial inference successful
          ✅ fault_injection      - 0.00s    - Fault injection success
          ✅ fault_inference      - 0.00s    - Inference with fault succeeded (fault tolerance working)
          ✅ recovery             - 0.00s    - Recovery succeeded
          ✅ recovery_inference   - 0.00s    - Post-recovery inference successful

        SCENARIO: multiple_failures - ✅ SUCCESS
        Description: Multiple simultaneous failures scenario

        Test Phases:
          ✅ initialize           - 0.44s    - Initialization succeeded
          ✅ initial_inference    - 0.00s    - Initial inference successful
          ✅ fault_injection      - 0.00s    - Fault injection success
          ✅ fault_inference      - 0.00s    - Inference with fault succeeded (fault tolerance working)
          ✅ recovery             - 0.00s    - Recovery succeeded
          ✅ recovery_inference   - 0.00s    - Post-recovery inference successful

        ================================================================================
        SUMMARY:
        Scenarios: 3/4 successful
        Success Rate: 75.0%
        Overall Result: ❌ FAILURE
        ================================================================================
        """

    /// The original's messages, by phase: (success, failure).
    static let messages: [PhaseName: (String, String)] = [
        .initialize: ("Initialization succeeded", "Initialization failed"),
        .initialInference: ("Initial inference successful", "Initial inference failed"),
        .faultInjection: ("Fault injection success", "Fault injection failed"),
        .faultInference: ("Inference with fault succeeded (fault tolerance working)", "Inference with fault failed"),
        .recovery: ("Recovery succeeded", "Recovery failed"),
        .recoveryInference: ("Post-recovery inference successful", "Post-recovery inference failed"),
    ]

    /// A scenario as the original recorded it: six phases (success, duration), nothing else.
    static func scenario(_ name: String, _ description: String, passed: Bool,
                         _ rows: [(Bool, Double)]) -> ScenarioResult {
        let phases = zip(PhaseName.allCases, rows).map { name, row in
            Phase(name, PhaseResult(success: row.0, duration: row.1,
                                    message: row.0 ? messages[name]?.0 ?? "" : messages[name]?.1 ?? ""))
        }
        return ScenarioResult(scenario: name, description: description, overallSuccess: passed, phases: phases,
                              fault: nil, recovery: nil, numerics: [:], events: [])
    }

    static var originalReport: FaultTestReport {
        var info = ReportFixtures.testInfo
        info.timestamp = "20261124_234829"
        info.devices = []
        return FaultTestReport(testInfo: info, scenarios: [
            scenario("connection_lost", "Browser connection loss scenario", passed: false, [
                (true, 0.43170619010925293),
                (true, 1.3113021850585938e-05),
                (true, 5.841255187988281e-05),
                (true, 3.0994415283203125e-06),
                (false, 5.2928924560546875e-05),
                (true, 2.384185791015625e-06),
            ]),
            scenario("component_failure", "Model component failure scenario", passed: true, [
                (true, 0.35568904876708984),
                (true, 1.2874603271484375e-05),
                (true, 2.6464462280273438e-05),
                (true, 2.384185791015625e-06),
                (true, 4.76837158203125e-06),
                (true, 2.384185791015625e-06),
            ]),
            scenario("browser_crash", "Complete browser crash scenario", passed: true, [
                (true, 0.1735081672668457),
                (true, 1.4781951904296875e-05),
                (true, 0.0001304149627685547),
                (true, 8.821487426757812e-06),
                (true, 4.839897155761719e-05),
                (true, 2.6226043701171875e-06),
            ]),
            scenario("multiple_failures", "Multiple simultaneous failures scenario", passed: true, [
                (true, 0.4408254623413086),
                (true, 1.3113021850585938e-05),
                (true, 0.00013780593872070312),
                (true, 4.76837158203125e-06),
                (true, 3.790855407714844e-05),
                (true, 2.384185791015625e-06),
            ]),
        ])
    }

    @Test func reproducesTheOriginalOutputByteForByte() {
        #expect(TerminalReport.render(Self.originalReport, color: false) == Self.original)
    }
}
