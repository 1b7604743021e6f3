import Foundation
import Prometheus

/// A run's results in Prometheus' text format, for node_exporter's textfile collector (the way
/// batch jobs reach a fleet's Prometheus): verdicts, phase times, detection and recovery latencies
/// as histograms, faults injected and detected by kind, recoveries by outcome, wrong answers, the
/// devices as an info metric. Every value is read from the report, so the two never disagree.
/// Names and units follow Prometheus' conventions (`poolfault_…_seconds`, `_total`, HELP and TYPE),
/// through swift-prometheus' registry.
public enum PrometheusReport {
    /// Latency buckets, seconds: a heartbeat's detection (ms) to a cold rebuild on lavapipe (s).
    public static let latencyBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

    public static func exposition(_ report: FaultTestReport) -> String {
        let registry = PrometheusCollectorRegistry()
        let info = report.testInfo
        let base = [("model", info.model), ("isolation", info.isolation ?? "thread")]

        registry.gauge(name: "poolfault_run_success", labels: base,
                           help: "1 when every scenario (and check) of the last run passed, else 0.")
            .set(report.summary.overallSuccess ? 1.0 : 0.0)
        if let time = timestamp(info.timestamp) {
            registry.gauge(name: "poolfault_run_timestamp_seconds", labels: base,
                               help: "When the last run started, Unix seconds (alert on staleness).").set(time)
        }
        registry.gauge(name: "poolfault_software_vulkan", labels: base,
                           help: "1 when any context ran on a software Vulkan driver (lavapipe), not a GPU.")
            .set(info.devices.contains(where: \.software) ? 1.0 : 0.0)
        for d in info.devices {
            registry.gauge(name: "poolfault_device_info",
                               labels: [("context", d.context), ("backend", d.backend), ("device", d.name), ("driver", d.driver),
                                        ("uuid", d.uuid ?? ""), ("pci_bus", d.pciBusID ?? ""), ("software", d.software ? "true" : "false")],
                               help: "The devices the last run's contexts used (value always 1).").set(1.0)
        }
        for s in report.scenarios {
            let strategy = s.strategy ?? info.recoveryStrategy
            let labels = base + [("scenario", s.scenario), ("strategy", strategy)]
            registry.gauge(name: "poolfault_scenario_success", labels: labels,
                               help: "1 when the scenario passed in the last run, else 0.").set(s.overallSuccess ? 1.0 : 0.0)
            for phase in s.phases {
                registry.gauge(name: "poolfault_scenario_phase_seconds", labels: labels + [("phase", phase.name.rawValue)],
                                   help: "How long each of the scenario's six phases took in the last run.")
                    .set(phase.result.duration.isFinite ? phase.result.duration : 0)
            }
            let byStrategy = base + [("strategy", strategy)]
            if let fault = s.fault {
                let kind = [("kind", fault.kind.rawValue)]
                registry.counter(name: "poolfault_faults_injected_total", labels: base + kind,
                                     help: "Faults injected in the last run, by kind.").increment()
                let detection = fault.detectionSeconds ?? fault.parts.compactMap(\.detectionSeconds).max()
                if let detection {
                    registry.counter(name: "poolfault_faults_detected_total", labels: base + kind,
                                         help: "Injected faults the pool detected in the last run, by kind.").increment()
                    registry.histogram(name: "poolfault_detection_seconds", labels: byStrategy, buckets: latencyBuckets,
                                                help: "From a fault to the pool knowing of it.").record(detection)
                }
            }
            if let r = s.recovery {
                registry.counter(name: "poolfault_recoveries_total", labels: byStrategy + [("outcome", r.success ? "succeeded" : "failed")],
                                     help: "Recoveries in the last run, by strategy and outcome.").increment()
                // A failed recovery has no recovery latency: it fails its scenario instead.
                if r.success {
                    registry.histogram(name: "poolfault_recovery_seconds", labels: byStrategy, buckets: latencyBuckets,
                                                help: "A successful recovery, until routing was as promised.").record(r.duration)
                    for (step, group) in Dictionary(grouping: r.steps, by: \.name) {
                        registry.histogram(name: "poolfault_recovery_step_seconds", labels: byStrategy + [("step", step)],
                                                    buckets: latencyBuckets, help: "One recovery step's total time within a successful recovery.")
                            .record(group.reduce(0) { $0 + $1.duration })
                    }
                }
            }
            // A scenario without a corruption summary had no silent corruption: none served, none caught.
            registry.counter(name: "poolfault_wrong_answers_served_total", labels: base,
                                 help: "Wrong answers that left the pool (silent corruption not caught).")
                .increment(by: Int64(s.corruption?.wrongAnswersServed ?? 0))
            registry.counter(name: "poolfault_wrong_answers_caught_total", labels: base,
                                 help: "Wrong answers caught by a check before they left the pool.")
                .increment(by: Int64(s.corruption?.wrongAnswersCaught ?? 0))
            registry.counter(name: "poolfault_demotions_total", labels: base,
                                 help: "Browsers moved down the degradation ladder in the last run.")
                .increment(by: Int64(s.demotions?.count ?? 0))
        }
        return registry.emitToString()
    }

    /// Writes the exposition to `url` atomically, so node_exporter never reads half a file.
    public static func write(_ report: FaultTestReport, to url: URL) throws(ReportWriteError) {
        try ReportFiles.replace(url, with: Data(exposition(report).utf8))
    }

    /// "20261124_234829" (local time, as the run wrote it) → Unix seconds; nil if the text is not in that form.
    static func timestamp(_ stamp: String) -> Double? {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd_HHmmss"
        formatter.locale = Locale(identifier: "en_US_POSIX")
        return formatter.date(from: stamp)?.timeIntervalSince1970
    }
}
