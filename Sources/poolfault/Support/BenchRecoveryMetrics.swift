import FaultTest
import Foundation
import Prometheus

/// `bench recovery`'s results in Prometheus' text format, read from the rows its report holds:
/// each row's recovery samples as a histogram, its failures and trials, detection and each
/// step's p50, the cold-initialize control, and the verdict.
enum BenchRecoveryMetrics {
    static func exposition(_ report: BenchRecoveryReport) -> String {
        let registry = PrometheusCollectorRegistry()
        let model = [("model", report.model)]
        registry.gauge(name: "poolfault_bench_recovery_success", labels: model,
                           help: "1 when every recovery of the last bench succeeded, else 0.").set(report.verdict.pass ? 1.0 : 0.0)
        for row in report.recovery {
            let labels = model + [("scenario", row.scenario), ("strategy", row.strategy), ("isolation", row.isolation)]
            let histogram = registry.histogram(name: "poolfault_bench_recovery_seconds", labels: labels,
                                                        buckets: PrometheusReport.latencyBuckets,
                                                        help: "Each successful recovery of the last bench, until routing was as promised.")
            for ms in row.samplesMs { histogram.record(ms / 1000) }
            registry.counter(name: "poolfault_bench_recovery_trials_total", labels: labels,
                                 help: "Trials of the last bench (a fresh pool, a fault, a recovery).").increment(by: Int64(row.trials))
            registry.counter(name: "poolfault_bench_recovery_failures_total", labels: labels,
                                 help: "Recoveries of the last bench that failed.").increment(by: Int64(row.failures))
            registry.gauge(name: "poolfault_bench_detection_p50_seconds", labels: labels,
                               help: "Median time from a fault to the pool knowing of it.").set(row.detectionP50Ms / 1000)
            for (step, ms) in row.steps {
                registry.gauge(name: "poolfault_bench_recovery_step_p50_seconds", labels: labels + [("step", step)],
                                   help: "Median total time of one recovery step.").set(ms / 1000)
            }
        }
        for (key, ms) in report.control where key.hasPrefix("initialize_p50_ms_") {
            registry.gauge(name: "poolfault_bench_initialize_p50_seconds",
                               labels: model + [("isolation", String(key.dropFirst("initialize_p50_ms_".count)))],
                               help: "Median cold initialize of a pool: the control recoveries are compared with.").set(ms / 1000)
        }
        return registry.emitToString()
    }
}
