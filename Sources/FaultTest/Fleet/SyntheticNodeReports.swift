import Foundation
import Transformer

/// Node reports made up for `poolfault bench merge` (and the merge tests): a fleet of any size
/// without running poolfault on that many machines. Either soak-shaped reports with the
/// histogram keys a real run report carries, filled with seeded samples, or copies of one real
/// report, each renamed to its own node.
public enum SyntheticNodeReports {
    /// The keys one `poolfault run` of every scenario writes: detection, recovery and four
    /// recovery steps per scenario (progressive strategy, process isolation).
    public static let runKeys: [HistogramKey] = ["connection_lost", "component_failure", "browser_crash", "multiple_failures"].flatMap { scenario in
        func key(_ metric: String, _ step: String? = nil) -> HistogramKey {
            HistogramKey(metric: metric, scenario: scenario, strategy: "progressive", isolation: "process", step: step)
        }
        return [key("detection"), key("recovery")] + ["process_spawn", "pipeline_creation", "weight_upload", "verification"].map { key("recovery_step", $0) }
    }

    /// A made-up host, under a made-up Slurm job, so the report names its node as a real one would.
    public static func host(_ node: String, software: Bool = false) -> HostIdentity {
        HostIdentity(hostname: node, kernel: "Linux 6.1.0 x86_64", os: "Debian GNU/Linux 12 (bookworm)", cpu: "synthetic", cores: 2, gpus: [],
                     softwareVulkan: software, scheduler: SchedulerIdentity(environment: ["SLURM_JOB_ID": "77", "SLURMD_NODENAME": node]))
    }

    /// A soak-shaped report (the smallest kind a merge reads) holding these samples per key.
    public static func soakReport(node: String, samples: [HistogramKey: [Double]], pass: Bool = true, reasons: [String] = [],
                                  software: Bool = false, schema: String = "1.1") throws -> Data {
        struct Verdict: Encodable { let pass: Bool; let reasons: [String] }
        struct Doc: Encodable {
            let schemaVersion: String; let tool = "poolfault soak"; let timestamp = "20261130_000000"; let host: HostIdentity
            let histograms: [ReportHistogram]; let verdict: Verdict
        }
        var set = HistogramSet()
        for (key, values) in samples { for v in values { set.record(key, seconds: v) } }
        return try OrderedJSONEncoder().encode(Doc(schemaVersion: schema, host: host(node, software: software), histograms: set.histograms,
                                                   verdict: Verdict(pass: pass, reasons: reasons)))
    }

    /// Node `index` of a seeded fleet: `samplesPerKey` values per run key, around 100 ms for
    /// recoveries and 1 ms for detections, each node a little slower or faster than the next.
    public static func seededSoakReport(index: Int, seed: UInt64, samplesPerKey: Int) throws -> Data {
        var rng = Xoshiro256StarStar(seed: seed &+ UInt64(index))
        let speed = 0.8 + 0.4 * Double(rng.nextUnitFloat())
        var samples: [HistogramKey: [Double]] = [:]
        for key in runKeys {
            let scale = key.metric == "detection" ? 0.001 : (key.metric == "recovery" ? 0.1 : 0.02)
            samples[key] = (0..<samplesPerKey).map { _ in speed * scale * (0.5 + Double(rng.nextUnitFloat())) }
        }
        return try soakReport(node: nodeName(index), samples: samples)
    }

    /// `template` (any report a merge reads) as if node `index` had written it: its host and
    /// scheduler node renamed, everything else as it was.
    public static func copy(of template: Data, index: Int) throws -> Data {
        guard var doc = try JSONSerialization.jsonObject(with: template) as? [String: Any],
              var host = doc["host"] as? [String: Any] else {
            throw NodeReportError(file: "template", reason: "not a poolfault report with a host (schema 1.4 run, 1.1 soak or bench recovery report)")
        }
        let name = nodeName(index)
        host["hostname"] = name
        if var scheduler = host["scheduler"] as? [String: Any] {
            scheduler["node"] = name
            host["scheduler"] = scheduler
        }
        doc["host"] = host
        return try JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys])
    }

    public static func nodeName(_ index: Int) -> String { String(format: "node-%05d", index) }
}
