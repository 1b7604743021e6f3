import Foundation
import Prometheus

/// A soak in Prometheus' text format, built afresh from what the soak has done so far (live,
/// at every scrape) or from its result (the textfile at its end, the same numbers as its JSON
/// report): requests by outcome and their latency, faults by kind, recoveries by outcome,
/// detection and recovery latencies.
public enum SoakMetrics {
    public static func exposition(_ result: SoakResult, plan: SoakPlan, model: String, isolation: String) -> String {
        let registry = PrometheusCollectorRegistry()
        let base = [("model", model), ("isolation", isolation), ("strategy", plan.strategy.rawValue)]
        var outcomes = ["served": 0, "degraded": 0, "wrong": 0, "lost": 0]
        let latency = registry.histogram(name: "poolfault_soak_request_seconds", labels: base,
                                                  buckets: PrometheusReport.latencyBuckets,
                                                  help: "Requests answered right, from sending to the answer.")
        for r in result.requests {
            switch r.outcome {
            case .ok:
                outcomes[r.degraded ? "degraded" : "served", default: 0] += 1
                latency.record(r.seconds)
            case .wrong: outcomes["wrong", default: 0] += 1
            case .lost: outcomes["lost", default: 0] += 1
            }
        }
        for (outcome, count) in outcomes.sorted(by: { $0.key < $1.key }) {
            registry.counter(name: "poolfault_soak_requests_total", labels: base + [("outcome", outcome)],
                                 help: "Soak requests by outcome: served (right, on the GPU path), degraded (right, on the CPU fallback), wrong, lost.")
                .increment(by: Int64(count))
        }
        for f in result.faults {
            let kind = base + [("kind", f.kind), ("planned", f.planned ? "true" : "false")]
            registry.counter(name: "poolfault_soak_faults_total", labels: kind,
                                 help: "Faults in the soak: planned ones injected, unplanned ones noticed.").increment()
            registry.counter(name: "poolfault_soak_faults_recovered_total", labels: kind,
                                 help: "Faults in the soak whose recovery succeeded.").increment(by: Int64(f.recovered ? 1 : 0))
            if let detection = f.detectionSeconds {
                registry.histogram(name: "poolfault_detection_seconds", labels: base, buckets: PrometheusReport.latencyBuckets,
                                            help: "From a fault to the pool knowing of it.").record(detection)
            }
            if f.recovered {
                registry.histogram(name: "poolfault_recovery_seconds", labels: base, buckets: PrometheusReport.latencyBuckets,
                                            help: "A successful recovery, until routing was as promised.").record(f.recoverySeconds)
            }
        }
        registry.gauge(name: "poolfault_soak_elapsed_seconds", labels: base, help: "How long the soak has run.").set(result.seconds)
        return registry.emitToString()
    }
}
