import TransformerGPU
/// The four faults of the original tool, done for real (README: what each tears down), and what poolfault adds.
public enum FaultKind: String, Sendable, Codable, CaseIterable {
    case connectionLost = "connection_lost"
    case componentFailure = "component_failure"
    case browserCrash = "browser_crash"
    case multipleFailures = "multiple_failures"
    /// A dispatch that never finishes; the watchdog detects it and the process is killed.
    /// Process isolation only (a hung queue cannot be reclaimed inside one process).
    case gpuHang = "gpu_hang"
    /// Wrong bits in a component's weights in device memory, with no error from the device: the
    /// checks (the CPU reference, checksums, scrubbing) must catch it before a wrong answer
    /// leaves the pool.
    case silentCorruption = "silent_corruption"
    /// The browser's process is stopped (SIGSTOP): alive, holding its devices, answering
    /// nothing. Process isolation only; found by the watchdog, killed and respawned.
    case browserFreeze = "browser_freeze"
    /// A browser crash, then a second crash while the pool recovers from the first (at a stage
    /// drawn with the seed: as detection begins, during the weight upload, before the first
    /// dispatch). Recovery must go round again within its restart budget.
    case cascadingFailure = "cascading_failure"

    /// Faults only a browser process can suffer: a hung queue or a stopped process is reclaimed
    /// by killing the process.
    public var needsProcess: Bool { self == .gpuHang || self == .browserFreeze }

    /// The original tool's four scenarios: the default set.
    public static let original: [FaultKind] = [.connectionLost, .componentFailure, .browserCrash, .multipleFailures]
}

/// What a fault injection did.
public struct FaultRecord: Sendable, Codable {
    public let kind: FaultKind
    /// The contexts hit ("chrome"), and for a component failure "chrome:layer3.attention".
    public let targets: [String]
    /// True for a deliberate teardown of our own objects (thread isolation, and
    /// component_failure everywhere); false for a real signal, socket or hang (process isolation).
    public let simulated: Bool
    /// The seed of a drawn target (nil when targets were named).
    public let seed: UInt64?
    /// What was really torn down, one line each ("vkDestroyDevice on chrome (llvmpipe)").
    public let teardown: [String]
    /// For multiple_failures: the single faults it combined.
    public let parts: [FaultRecord]
    /// How the fault was made ("SIGKILL", "socket shutdown", "fault-control request", "hung
    /// dispatch", "vkDestroyDevice", …). Absent before schema 1.3.
    public let mechanism: String?
    /// The browser processes it struck (process isolation).
    public let pids: [Int32]?
    /// When it struck: seconds since the run started.
    public let start: Double?
    /// Seconds from the fault until the pool first noticed it (a failed request, a heartbeat,
    /// EOF, the reaper's waitpid, the watchdog); nil if the pool never noticed.
    public var detectionSeconds: Double?
    /// How a struck process ended, as waitpid said ("killed by signal 9 (Killed)").
    public var exitStatus: [String]?
    /// gpu_hang: how long the request that met the hang waited before the watchdog killed
    /// the process (the watchdog's deadline plus its overshoot).
    public var watchdogSeconds: Double?
    /// silent_corruption: what was written where (schema 1.6).
    public var corruption: CorruptionRecord?
    /// browser_crash in process isolation: requests the struck process had been sent and had
    /// not answered when the signal went — lost with it, re-driven by the pool (schema 1.7).
    public var requestsInFlight: Int?
    /// cascading_failure's second part: the recovery step it struck in ("weight_upload of
    /// chrome, after 2 of 4 components"); schema 1.8.
    public var duringRecovery: String?

    public init(kind: FaultKind, targets: [String], simulated: Bool, seed: UInt64?, teardown: [String], parts: [FaultRecord],
                mechanism: String? = nil, pids: [Int32]? = nil, start: Double? = nil, detectionSeconds: Double? = nil,
                exitStatus: [String]? = nil, corruption: CorruptionRecord? = nil) {
        self.corruption = corruption
        self.kind = kind; self.targets = targets; self.simulated = simulated; self.seed = seed
        self.teardown = teardown; self.parts = parts
        self.mechanism = mechanism; self.pids = pids; self.start = start; self.detectionSeconds = detectionSeconds
        self.exitStatus = exitStatus
    }
}

/// One timed step of a recovery.
public struct RecoveryStep: Sendable, Codable {
    /// detection, cleanup, process_spawn, instance_creation, device_query, device_creation,
    /// queue_creation, reconnect, pipeline_creation, weight_upload, first_dispatch,
    /// verification, routing_switch, rollback, backoff; after silent corruption scrub and
    /// weight_restore.
    public let name: String
    public let context: String
    public let duration: Double
    public let bytes: Int?
    public let detail: String?
    /// When the step began: seconds since the run started, on the run's one monotonic clock
    /// (`EventLog.origin`). Absent in reports older than schema 1.2.
    public let start: Double?

    public init(name: String, context: String, duration: Double, bytes: Int? = nil, detail: String? = nil, start: Double? = nil) {
        self.name = name
        self.context = context
        self.duration = duration
        self.bytes = bytes
        self.detail = detail
        self.start = start
    }

    /// A step that began at `began` (on `log`'s clock) and ends now.
    init(name: String, context: String, since began: ContinuousClock.Instant, on log: EventLog, bytes: Int? = nil, detail: String? = nil) {
        self.init(name: name, context: context, duration: (ContinuousClock.now - began).seconds, bytes: bytes, detail: detail,
                  start: log.offset(of: began))
    }
}

/// What a recovery did, step by step.
public struct RecoveryRecord: Sendable, Codable {
    public let strategy: String
    public let success: Bool
    /// True when the pool serves but not as planned (a context stays down, or only the CPU path serves).
    public let degraded: Bool
    public let message: String
    public let steps: [RecoveryStep]
    public let bytesUploaded: Int
    public let contextsRebuilt: [String]
    public let contextsReconnected: [String]
    /// Contexts whose weights were restored from the source after silent corruption (schema 1.6).
    public var contextsRestored: [String]?
    /// Rounds taken, when a fault during recovery made it go round again (schema 1.8).
    public var rounds: Int?
    public let placementBefore: Placement
    public let placementAfter: Placement
    /// Rebuild attempts made (retries included).
    public let attempts: Int
    /// Seconds from the start of recovery until routing was restored as the strategy promises;
    /// the trailing `cleanup` steps (dropping failover copies) run after it.
    public let duration: Double

    public init(strategy: String, success: Bool, degraded: Bool, message: String, steps: [RecoveryStep], bytesUploaded: Int,
                contextsRebuilt: [String], contextsReconnected: [String], placementBefore: Placement, placementAfter: Placement,
                attempts: Int, duration: Double) {
        self.strategy = strategy; self.success = success; self.degraded = degraded; self.message = message
        self.steps = steps; self.bytesUploaded = bytesUploaded; self.contextsRebuilt = contextsRebuilt
        self.contextsReconnected = contextsReconnected; self.placementBefore = placementBefore
        self.placementAfter = placementAfter; self.attempts = attempts; self.duration = duration
    }
}
