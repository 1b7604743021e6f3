/// The four faults of the original tool, done for real (DESIGN.md: what each tears down).
public enum FaultKind: String, Sendable, Codable, CaseIterable {
    case connectionLost = "connection_lost"
    case componentFailure = "component_failure"
    case browserCrash = "browser_crash"
    case multipleFailures = "multiple_failures"
}

/// What a fault injection did.
public struct FaultRecord: Sendable, Codable {
    public let kind: FaultKind
    /// The contexts hit ("chrome"), and for a component failure "chrome:layer3.attention".
    public let targets: [String]
    /// Always true: we destroy the objects ourselves; no driver hang or real loss is provoked.
    public let simulated: Bool
    /// The seed of a drawn target (nil when targets were named).
    public let seed: UInt64?
    /// What was really torn down, one line each ("vkDestroyDevice on chrome (llvmpipe)").
    public let teardown: [String]
    /// For multiple_failures: the single faults it combined.
    public let parts: [FaultRecord]

    public init(kind: FaultKind, targets: [String], simulated: Bool, seed: UInt64?, teardown: [String], parts: [FaultRecord]) {
        self.kind = kind; self.targets = targets; self.simulated = simulated; self.seed = seed
        self.teardown = teardown; self.parts = parts
    }
}

/// One timed step of a recovery.
public struct RecoveryStep: Sendable, Codable {
    /// detection, cleanup, device_creation, queue_creation, pipeline_creation, weight_upload,
    /// first_dispatch, verification, routing_switch, rollback, backoff.
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
