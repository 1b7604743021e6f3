/// The fleet's verdict from many reports (`poolfault report merge`): one entry per node with
/// its verdict, reasons, devices and figures; fleet latency percentiles per scenario × strategy
/// computed exactly from the added histograms; outlier nodes; nodes that ran on software
/// Vulkan. Its JSON shape is documented in docs/report-schema.md ("Fleet report").
public struct FleetReport: Codable, Sendable {
    public static let schemaVersion = ReportVersion.fleet

    public var schemaVersion = FleetReport.schemaVersion
    public var tool = NodeReport.fleetTool
    /// ISO 8601, UTC.
    public var mergedAt: String
    public var outlierFactor: Double
    /// `--require-gpu`: a node that ran on software Vulkan fails.
    public var requireGPU: Bool
    public var summary: Summary
    public var nodes: [Node]
    public var latency: [Latency]
    public var outliers: [Outlier]

    // "requireGpu": what .convertFromSnakeCase makes of "require_gpu", so the key round-trips.
    private enum CodingKeys: String, CodingKey {
        case schemaVersion, tool, mergedAt, outlierFactor, requireGPU = "requireGpu", summary, nodes, latency, outliers
    }

    public struct Summary: Codable, Sendable {
        public var pass: Bool
        public var nodes: Int
        /// `--expect-nodes`, and how many of those never reported (each fails the fleet).
        public var expectedNodes: Int?
        public var missingNodes: Int
        public var nodesPassed: Int
        public var failedNodes: [String]
        public var reports: Int
        public var softwareVulkanNodes: [String]
        public var outlierNodes: [String]
        /// Nodes where a check caught silent corruption nobody injected, or a wrong answer was
        /// served (fleet schema 1.1): the nodes to look at first.
        public var silentCorruptionNodes: [String]?
        /// More nodes reported than `--expect-nodes` said (fleet schema 1.1): said, not failed
        /// (the merge may have been pointed at more than one fleet's reports).
        public var unexpectedNodes: Int?
        /// Reports named twice or copied under another name, counted once (fleet schema 1.1).
        public var duplicateReports: [String]?
    }

    public struct Node: Codable, Sendable {
        public var node: String
        public var pass: Bool
        /// Why it failed: "<report file>: <reason>", one per line of each failed report.
        public var reasons: [String]
        public var hostnames: [String]
        public var softwareVulkan: Bool
        /// Every Vulkan device its reports saw, once each (by UUID).
        public var gpus: [GPUIdentity]
        public var reports: [Entry]
        /// The node's own percentiles per key, from its reports' histograms added.
        public var latency: [NodeLatency]
        /// Silent corruption over its reports (fleet schema 1.1; absent when none was injected or caught).
        public var silentCorruption: SilentCorruptionCount?
    }

    public struct Entry: Codable, Sendable {
        public var file: String
        public var tool: String
        public var schemaVersion: String
        public var timestamp: String?
        public var model: String?
        public var level: String?
        public var scheduler: SchedulerIdentity?
        public var pass: Bool
        public var reasons: [String]

        /// The report as the fleet lists it: NodeReport without its histograms and host.
        init(_ r: NodeReport) {
            file = r.file; tool = r.tool; schemaVersion = r.schemaVersion; timestamp = r.timestamp; model = r.model
            level = r.level; scheduler = r.host?.scheduler; pass = r.pass; reasons = r.reasons
        }
    }

    public struct NodeLatency: Codable, Sendable {
        public var metric: String
        public var scenario: String
        public var strategy: String?
        public var isolation: String?
        public var step: String?
        public var count: UInt64
        public var p50Ms: Double
        public var p99Ms: Double
        public var maxMs: Double
    }

    public struct Latency: Codable, Sendable {
        public var metric: String
        public var scenario: String
        public var strategy: String?
        public var isolation: String?
        public var step: String?
        public var unit = "us"
        public var count: UInt64
        /// How many nodes contributed values.
        public var nodes: Int
        public var p50Ms: Double
        public var p90Ms: Double
        public var p99Ms: Double
        public var p999Ms: Double
        public var maxMs: Double
        /// The fleet histogram (HdrHistogram V2, compressed, base64): merges again, exactly.
        public var hdr: String

        public var key: HistogramKey { HistogramKey(metric: metric, scenario: scenario, strategy: strategy, isolation: isolation, step: step) }
    }

    public struct Outlier: Codable, Sendable {
        public var node: String
        public var metric: String
        public var scenario: String
        public var strategy: String?
        public var isolation: String?
        public var step: String?
        public var nodeP50Ms: Double
        public var fleetP50Ms: Double
        /// node p50 ÷ fleet p50.
        public var ratio: Double
    }
}
