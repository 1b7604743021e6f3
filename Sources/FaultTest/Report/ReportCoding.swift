import Foundation
import ResourcePool

// How the report model maps onto JSON (docs/report-schema.md). Keys are camelCase here and
// snake_case in the file: JSONReport converts them (OrderedJSONEncoder on the way out,
// JSONDecoder's .convertFromSnakeCase on the way in).
//
// Ordered collections become JSON objects keyed by name, in order — `scenarios` by scenario
// name in run order, `phases` by phase name in phase order, `numerics` by inference phase —
// as the original tool wrote them. A JSON decoder does not keep member order, so decoding
// takes the order from elsewhere: phases and numerics have a fixed order (PhaseName), and
// scenarios follow `summary.run_order`.

/// A key known only at run time: a scenario or phase name.
struct ReportKey: CodingKey {
    let stringValue: String
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    var intValue: Int? { nil }
    init?(intValue: Int) { return nil }
}

extension FaultTestReport {
    private enum CodingKeys: String, CodingKey { case schemaVersion, tool, testInfo, host, scenarios, checks, histograms, summary }
    private enum SummaryKeys: String, CodingKey { case runOrder }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(schemaVersion, forKey: .schemaVersion)
        try container.encode(Self.tool, forKey: .tool)
        try container.encode(testInfo, forKey: .testInfo)
        try container.encodeIfPresent(host, forKey: .host)
        var byName = container.nestedContainer(keyedBy: ReportKey.self, forKey: .scenarios)
        for (key, scenario) in zip(ScenarioResult.reportKeys(for: scenarios), scenarios) {
            try byName.encode(scenario, forKey: ReportKey(key))
        }
        if !checks.isEmpty { try container.encode(checks, forKey: .checks) }
        try container.encode(histograms, forKey: .histograms)
        try container.encode(summary, forKey: .summary)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let version = try container.decode(String.self, forKey: .schemaVersion)
        // A reader of 1.x understands every 1.y: minor versions only add optional fields.
        guard version.split(separator: ".").first == Self.schemaVersion.split(separator: ".").first else {
            throw DecodingError.dataCorruptedError(forKey: .schemaVersion, in: container, debugDescription:
                "schema_version \(version) is not supported (this poolfault reads \(Self.schemaVersion))")
        }
        schemaVersion = version
        testInfo = try container.decode(TestInfo.self, forKey: .testInfo)
        host = try container.decodeIfPresent(HostIdentity.self, forKey: .host)
        // A Swift dictionary: JSONDecoder leaves its keys as written (no snake_case conversion).
        let byKey = try container.decode([String: ScenarioResult].self, forKey: .scenarios)
        let summary = try container.nestedContainer(keyedBy: SummaryKeys.self, forKey: .summary)
        let runOrder = try summary.decodeIfPresent([String].self, forKey: .runOrder) ?? []
        let listed = runOrder.filter { byKey[$0] != nil }
        // Scenarios missing from run_order (a hand-edited file) still load, after the listed ones.
        let unlisted = byKey.keys.filter { !listed.contains($0) }.sorted()
        scenarios = (listed + unlisted).compactMap { byKey[$0] }
        checks = try container.decodeIfPresent([CheckResult].self, forKey: .checks) ?? []
    }
}

extension ScenarioResult {
    private enum CodingKeys: String, CodingKey {
        case scenario, description, strategy, phases, fault, recovery, demotions, corruption, numerics, events, processes, overallSuccess
    }

    /// The JSON keys of `scenarios`, in order: the scenario's name, or "<name>_2", "<name>_3", …
    /// when a name repeats, so a run that repeats a scenario loses none of its results.
    public static func reportKeys(for scenarios: [ScenarioResult]) -> [String] {
        var used = Set<String>()
        return scenarios.map { scenario in
            var key = scenario.scenario
            var n = 1
            while used.contains(key) {
                n += 1
                key = "\(scenario.scenario)_\(n)"
            }
            used.insert(key)
            return key
        }
    }

    /// Inference phases first in phase order, then any other key by name: a stable order.
    static func orderedNumericsKeys(_ numerics: [String: NumericsRecord]) -> [String] {
        let phaseOrder = PhaseName.allCases.map(\.rawValue)
        let known = phaseOrder.filter { numerics[$0] != nil }
        return known + numerics.keys.filter { !phaseOrder.contains($0) }.sorted()
    }

    // The original wrote scenario, description, phases, …, overall_success last; kept.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(scenario, forKey: .scenario)
        try container.encode(description, forKey: .description)
        try container.encodeIfPresent(strategy, forKey: .strategy)
        var phaseContainer = container.nestedContainer(keyedBy: ReportKey.self, forKey: .phases)
        for phase in phases {
            try phaseContainer.encode(phase.result, forKey: ReportKey(phase.name.rawValue))
        }
        try container.encodeIfPresent(fault, forKey: .fault)
        try container.encodeIfPresent(recovery, forKey: .recovery)
        try container.encodeIfPresent(demotions, forKey: .demotions)
        try container.encodeIfPresent(corruption, forKey: .corruption)
        var numericsContainer = container.nestedContainer(keyedBy: ReportKey.self, forKey: .numerics)
        for key in Self.orderedNumericsKeys(numerics) {
            if let record = numerics[key] { try numericsContainer.encode(record, forKey: ReportKey(key)) }
        }
        try container.encode(events, forKey: .events)
        try container.encodeIfPresent(processes, forKey: .processes)
        try container.encode(overallSuccess, forKey: .overallSuccess)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        scenario = try container.decode(String.self, forKey: .scenario)
        description = try container.decode(String.self, forKey: .description)
        overallSuccess = try container.decode(Bool.self, forKey: .overallSuccess)
        var decodedPhases: [Phase] = []
        for (key, result) in try container.decode([String: PhaseResult].self, forKey: .phases) {
            guard let name = PhaseName(rawValue: key) else {
                throw DecodingError.dataCorruptedError(forKey: .phases, in: container, debugDescription:
                    "unknown phase \"\(key)\" (phases are \(PhaseName.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            decodedPhases.append(Phase(name, result))
        }
        let order = PhaseName.allCases
        phases = decodedPhases.sorted { (order.firstIndex(of: $0.name) ?? 0) < (order.firstIndex(of: $1.name) ?? 0) }
        fault = try container.decodeIfPresent(FaultRecord.self, forKey: .fault)
        recovery = try container.decodeIfPresent(RecoveryRecord.self, forKey: .recovery)
        numerics = try container.decodeIfPresent([String: NumericsRecord].self, forKey: .numerics) ?? [:]
        events = try container.decodeIfPresent([PoolEvent].self, forKey: .events) ?? []
        processes = try container.decodeIfPresent([String: Int32].self, forKey: .processes)
        strategy = try container.decodeIfPresent(String.self, forKey: .strategy)
        demotions = try container.decodeIfPresent([Demotion].self, forKey: .demotions)
        corruption = try container.decodeIfPresent(CorruptionSummary.self, forKey: .corruption)
    }
}

/// Non-finite numeric errors: the model clamps. NumericComparison reports infinity for a
/// length mismatch or a NaN, and that is a real outcome to report, not an encoding failure.
/// JSON has no infinity, and a string ("inf") in a number field breaks every consumer that
/// compares it with a tolerance, so ±infinity and NaN are written as ±Double.greatestFiniteMagnitude
/// (a number larger than any tolerance: the comparison still fails, as it should) and read
/// back as ±infinity.
enum FiniteJSON {
    static func clamp(_ value: Double) -> Double {
        if value.isNaN { return .greatestFiniteMagnitude }
        if value.isInfinite { return value > 0 ? .greatestFiniteMagnitude : -.greatestFiniteMagnitude }
        return value
    }

    static func unclamp(_ value: Double) -> Double {
        if value == .greatestFiniteMagnitude { return .infinity }
        if value == -.greatestFiniteMagnitude { return -.infinity }
        return value
    }
}

extension NumericsRecord {
    private enum CodingKeys: String, CodingKey { case maxAbsError, relativeL2, route, degraded, latency }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(FiniteJSON.clamp(maxAbsError), forKey: .maxAbsError)
        try container.encode(FiniteJSON.clamp(relativeL2), forKey: .relativeL2)
        try container.encode(route, forKey: .route)
        try container.encode(degraded, forKey: .degraded)
        try container.encode(FiniteJSON.clamp(latency), forKey: .latency)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(maxAbsError: FiniteJSON.unclamp(try container.decode(Double.self, forKey: .maxAbsError)),
                  relativeL2: FiniteJSON.unclamp(try container.decode(Double.self, forKey: .relativeL2)),
                  route: try container.decode([String].self, forKey: .route),
                  degraded: try container.decode(Bool.self, forKey: .degraded),
                  latency: FiniteJSON.unclamp(try container.decode(Double.self, forKey: .latency)))
    }
}
