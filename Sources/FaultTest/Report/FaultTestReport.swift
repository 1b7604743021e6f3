import ResourcePool
import TransformerGPU

/// The report model: one run of poolfault (several scenarios). The terminal, JSON and JUnit
/// writers (TerminalReport, JSONReport, JUnitReport) are three small views of this one value.
/// Its JSON shape (ReportCoding.swift) is documented in docs/report-schema.md and checked by
/// docs/report.schema.json.
public struct FaultTestReport: Sendable, Codable {
    public static let schemaVersion = ReportVersion.run
    public static let tool = "poolfault run"

    public var schemaVersion: String = FaultTestReport.schemaVersion
    public var testInfo: TestInfo
    /// The machine and the scheduler job (schema 1.4; absent before): what a fleet merge groups by.
    public var host: HostIdentity?
    /// Scenarios in the order they ran (encoded as an object keyed by scenario name, in order).
    public var scenarios: [ScenarioResult]
    /// Checks that are not scenarios (`--level long`: the soak, the crash cycles; schema 1.3).
    public var checks: [CheckResult] = []
    /// Derived from `scenarios`, `checks` and whether a signal cut the run short, on every read,
    /// so it can never disagree with them.
    public var summary: Summary { Summary(scenarios, checks: checks, interrupted: testInfo.interrupted != nil) }
    /// Detection, recovery and recovery-step latencies per scenario × strategy as HdrHistograms
    /// (schema 1.4), derived from `scenarios` like `summary`; `poolfault report merge` adds them.
    public var histograms: [ReportHistogram] {
        var set = HistogramSet()
        for s in scenarios {
            let strategy = s.strategy ?? testInfo.recoveryStrategy
            func key(_ metric: String, _ step: String? = nil) -> HistogramKey {
                HistogramKey(metric: metric, scenario: s.scenario, strategy: strategy, isolation: testInfo.isolation, step: step)
            }
            if let fault = s.fault, let detection = fault.detectionSeconds ?? fault.parts.compactMap(\.detectionSeconds).max() {
                set.record(key("detection"), seconds: detection)
            }
            // A failed recovery has no recovery latency: it fails the scenario instead.
            if let r = s.recovery, r.success {
                set.record(key("recovery"), seconds: r.duration)
                for (name, group) in Dictionary(grouping: r.steps, by: \.name) {
                    set.record(key("recovery_step", name), seconds: group.reduce(0) { $0 + $1.duration })
                }
            }
        }
        return set.histograms
    }

    public init(testInfo: TestInfo, scenarios: [ScenarioResult]) {
        self.testInfo = testInfo
        self.scenarios = scenarios
    }
}

public struct TestInfo: Sendable, Codable {
    public var model: String
    public var browsers: [String]
    public var recoveryStrategy: String
    /// "YYYYmmdd_HHMMSS", local time, as the original tool wrote it.
    public var timestamp: String
    public var seed: UInt64
    public var devices: [DeviceSummary]
    public var toolVersion: String
    /// The resolved plan: type, and each shard's components ("embeddings, layer0-3").
    public var shardType: String
    public var shards: [String]
    public var layers: Int
    public var sequenceLength: Int
    /// "seeded (seed 42)" or the weights directory.
    public var weights: String
    public var contextMode: String
    public var validation: Bool
    /// Mesa's shader cache state (lavapipe compiles at first dispatch).
    public var shaderCache: String
    /// Process-wide settings that change timings: lavapipe's SIMD width and who chose it,
    /// OpenBLAS's threads and worker spin (schema 1.1; absent from 1.0 reports).
    public var lavapipeVectorWidth: String?
    public var openblas: String?
    /// What ran the CPU forward's Linear layers: oneDNN's version, kernels, threads and OpenMP
    /// wait policy (schema 1.5; absent before).
    public var cpuLinear: String?
    /// "thread" or "process" (schema 1.3; absent before).
    public var isolation: String?
    /// Process isolation's request watchdog, seconds (schema 1.3).
    public var watchdog: Double?
    /// Set when a signal ended the run early: which, and what was left out (schema 1.3).
    public var interrupted: String?
    /// `--level quick|medium` (schema 1.3).
    public var level: String?
    /// The silent-corruption checks on: the CPU reference per shard, checksums, scrubbing (schema 1.6).
    public var integrity: String?

    public init(model: String, browsers: [String], recoveryStrategy: String, timestamp: String, seed: UInt64,
                devices: [DeviceSummary], toolVersion: String, shardType: String, shards: [String], layers: Int,
                sequenceLength: Int, weights: String, contextMode: String, validation: Bool, shaderCache: String,
                lavapipeVectorWidth: String? = nil, openblas: String? = nil, cpuLinear: String? = nil) {
        self.lavapipeVectorWidth = lavapipeVectorWidth; self.openblas = openblas; self.cpuLinear = cpuLinear
        self.model = model; self.browsers = browsers; self.recoveryStrategy = recoveryStrategy
        self.timestamp = timestamp; self.seed = seed; self.devices = devices; self.toolVersion = toolVersion
        self.shardType = shardType; self.shards = shards; self.layers = layers; self.sequenceLength = sequenceLength
        self.weights = weights; self.contextMode = contextMode; self.validation = validation; self.shaderCache = shaderCache
    }
}

/// Which device a browser context ran on.
public struct DeviceSummary: Sendable, Codable, Equatable {
    public var context: String
    /// "webgpu" or "webnn".
    public var backend: String
    /// "llvmpipe (LLVM 15.0.6, 256 bits)" or "CPU (oneDNN)".
    public var name: String
    public var driver: String
    /// "discrete", "integrated", "cpu" (software Vulkan), or "host" for webnn.
    public var type: String
    public var software: Bool
    /// How the context computes: "texel GEMM 32x16, 16 lanes, attention 2 queries/invocation in 16-key blocks"
    /// (schema 1.1; absent from 1.0 reports).
    public var compute: String?
    /// The OS process serving the context at initialize (schema 1.3).
    public var pid: Int32?
    /// The physical device: its index at start, UUID and PCI bus id where the driver gives it
    /// (schema 1.3; webgpu only).
    public var index: Int?
    public var uuid: String?
    public var pciBusID: String?
    /// What tells the device apart where another device shares its UUID (schema 1.7; absent
    /// where the UUID is the device's alone): `PhysicalDeviceInfo.identity`.
    public var identity: String?

    // "pciBusId": what .convertFromSnakeCase makes of "pci_bus_id", so the key round-trips.
    private enum CodingKeys: String, CodingKey {
        case context, backend, name, driver, type, software, compute, pid, index, uuid, pciBusID = "pciBusId", identity
    }

    public init(context: String, backend: String, name: String, driver: String, type: String, software: Bool,
                compute: String? = nil, pid: Int32? = nil) {
        self.pid = pid
        self.context = context; self.backend = backend; self.name = name; self.driver = driver
        self.type = type; self.software = software; self.compute = compute
    }
}

/// Silent corruption in one scenario (or soak): the injection, every detection, and what
/// clients saw.
public struct CorruptionSummary: Sendable, Codable {
    /// What was written where (silent_corruption).
    public var injected: CorruptionRecord?
    /// Every detection, in order (a check that caught a wrong shard output or wrong weights).
    public var detections: [CorruptionDetection]
    /// Seconds from the injection until the first detection, and the check that made it.
    public var detectionSeconds: Double?
    public var firstDetector: String?
    /// Requests whose answer reached the client wrong (0 while every request is verified).
    public var wrongAnswersServed: Int
    /// Requests that met a wrong shard output a check caught (the shard failed over, the answer was right).
    public var wrongAnswersCaught: Int
    /// Contexts isolated as bad hardware, with why.
    public var isolated: [String: String]?

    public init(injected: CorruptionRecord?, detections: [CorruptionDetection], injectedAt: Double?, wrongAnswersServed: Int,
                wrongAnswersCaught: Int, isolated: [String: String]?) {
        self.injected = injected
        self.detections = detections
        let first = detections.first { injectedAt == nil || $0.t >= injectedAt! }
        detectionSeconds = first.flatMap { f in injectedAt.map { f.t - $0 } }
        firstDetector = first?.detector.rawValue
        self.wrongAnswersServed = wrongAnswersServed
        self.wrongAnswersCaught = wrongAnswersCaught
        self.isolated = isolated?.isEmpty == true ? nil : isolated
    }
}

/// The six phases of a scenario, in order.
public enum PhaseName: String, Sendable, Codable, CaseIterable {
    case initialize, initialInference = "initial_inference", faultInjection = "fault_injection",
         faultInference = "fault_inference", recovery, recoveryInference = "recovery_inference"
}

public struct PhaseResult: Sendable, Codable {
    public var success: Bool
    /// Seconds, measured.
    public var duration: Double
    public var message: String
    /// When the phase began: seconds since the run started (one monotonic clock for the whole
    /// run). Absent in reports older than schema 1.2.
    public var start: Double?

    public init(success: Bool, duration: Double, message: String, start: Double? = nil) {
        self.success = success; self.duration = duration; self.message = message; self.start = start
    }
}

/// One phase of a scenario with its result.
public struct Phase: Sendable, Codable {
    public var name: PhaseName
    public var result: PhaseResult
    public init(_ name: PhaseName, _ result: PhaseResult) { self.name = name; self.result = result }
}

/// An inference's numbers against the CPU reference.
public struct NumericsRecord: Sendable, Codable {
    public var maxAbsError: Double
    public var relativeL2: Double
    /// Which contexts ran which shard ("chrome", "firefox", "cpu" for the CPU fallback).
    public var route: [String]
    /// True when any shard ran on the CPU fallback because no GPU context could take it.
    public var degraded: Bool
    public var latency: Double

    public init(maxAbsError: Double, relativeL2: Double, route: [String], degraded: Bool, latency: Double) {
        self.maxAbsError = maxAbsError; self.relativeL2 = relativeL2; self.route = route
        self.degraded = degraded; self.latency = latency
    }
}

public struct ScenarioResult: Sendable, Codable {
    public var scenario: String
    public var description: String
    public var overallSuccess: Bool
    /// In PhaseName order; encoded as an object keyed by phase name. A phase that did not run
    /// (an earlier one failed) is absent.
    public var phases: [Phase]
    public var fault: FaultRecord?
    public var recovery: RecoveryRecord?
    /// By inference phase name (initial_inference, fault_inference, recovery_inference).
    public var numerics: [String: NumericsRecord]
    public var events: [PoolEvent]
    /// Shard runs, weight uploads and initialize steps, and the requests-in-flight and
    /// bytes-uploaded counters: what the trace and the HTML timeline draw. Not in the JSON report.
    public var spans: [PoolSpan] = []
    public var counters: [PoolCounter] = []
    /// Process isolation: each context's browser process at this scenario's initialize
    /// (context → pid; schema 1.3). Each scenario has a fresh pool, so fresh processes.
    public var processes: [String: Int32]?
    /// The scenario's recovery strategy, when a run used several (`--level medium`; schema 1.3).
    public var strategy: String?
    /// Browsers moved down the degradation ladder during the scenario (schema 1.3; absent when none).
    public var demotions: [Demotion]?
    /// Silent corruption: what was injected, what caught it and when, and what clients saw
    /// (schema 1.6; silent_corruption scenarios, and any scenario where a check caught one).
    public var corruption: CorruptionSummary?

    public init(scenario: String, description: String, overallSuccess: Bool,
                phases: [Phase], fault: FaultRecord?, recovery: RecoveryRecord?,
                numerics: [String: NumericsRecord], events: [PoolEvent],
                spans: [PoolSpan] = [], counters: [PoolCounter] = []) {
        self.scenario = scenario; self.description = description; self.overallSuccess = overallSuccess
        self.phases = phases; self.fault = fault; self.recovery = recovery; self.numerics = numerics; self.events = events
        self.spans = spans; self.counters = counters
    }

    /// The first phase that failed, if any.
    public var failedPhase: Phase? { phases.first { !$0.result.success } }
}

public struct Summary: Sendable, Codable {
    public var totalScenarios: Int
    public var successfulScenarios: Int
    /// Percent, 0–100 (the original printed "75.0%").
    public var successRate: Double
    public var overallSuccess: Bool
    /// The keys of `scenarios` in the JSON, in run order. JSON objects are unordered by
    /// specification (and JSONDecoder forgets the order), so readers that need the order use this.
    public var runOrder: [String]
    /// The keys of the scenarios that failed, in run order (what a CI log wants first).
    public var failedScenarios: [String]

    /// The names of the checks that failed (schema 1.3; absent when the run had no checks).
    public var failedChecks: [String]?

    /// `interrupted`: a signal ended the run before it finished: it did not pass, whatever the
    /// scenarios it finished did (its exit code, 130 or 143, says why).
    public init(_ scenarios: [ScenarioResult], checks: [CheckResult] = [], interrupted: Bool = false) {
        totalScenarios = scenarios.count
        successfulScenarios = scenarios.filter(\.overallSuccess).count
        successRate = scenarios.isEmpty ? 0 : Double(successfulScenarios) / Double(scenarios.count) * 100
        overallSuccess = !interrupted && !scenarios.isEmpty && successfulScenarios == scenarios.count && checks.allSatisfy(\.success)
        failedChecks = checks.isEmpty ? nil : checks.filter { !$0.success }.map(\.name)
        let keys = ScenarioResult.reportKeys(for: scenarios)
        runOrder = keys
        failedScenarios = zip(keys, scenarios).filter { !$0.1.overallSuccess }.map(\.0)
    }
}

/// The original tool's scenario descriptions, kept word for word.
public enum ScenarioDescriptions {
    public static func of(_ kind: FaultKind) -> String {
        switch kind {
        case .connectionLost: return "Browser connection loss scenario"
        case .componentFailure: return "Model component failure scenario"
        case .browserCrash: return "Complete browser crash scenario"
        case .multipleFailures: return "Multiple simultaneous failures scenario"
        case .gpuHang: return "GPU hang scenario (a dispatch that never returns)"
        case .silentCorruption: return "Silent data corruption scenario (wrong weights in device memory, no error)"
        case .browserFreeze: return "Frozen browser scenario (the process stopped: alive, answering nothing)"
        case .cascadingFailure: return "Cascading failure scenario (a second crash during recovery)"
        }
    }
}

/// A check of a run that is not a fault scenario (`--level long`: a soak under load, crash/recover
/// cycles with leak checks): its verdict, time, message and figures.
public struct CheckResult: Sendable, Codable {
    public var name: String
    public var success: Bool
    /// Seconds, measured.
    public var duration: Double
    public var message: String
    /// The figures behind the verdict ("requests_lost": "0", …).
    public var figures: [String: String]

    public init(name: String, success: Bool, duration: Double, message: String, figures: [String: String] = [:]) {
        self.name = name; self.success = success; self.duration = duration; self.message = message; self.figures = figures
    }
}
