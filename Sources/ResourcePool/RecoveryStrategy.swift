import Foundation

/// How the pool restores itself after a fault (README: the strategies).
public enum RecoveryStrategyKind: String, Sendable, Codable, CaseIterable {
    /// Each failed component on its own: reload on its home if healthy, else on the least-loaded
    /// healthy context; crashed contexts stay down.
    case simple
    /// Phase 1 rebuild/reconnect every failed context (bounded retries with backoff); phase 2
    /// return each shard to its planned context, verifying each.
    case progressive
    /// The affected group recovers together: rebuild and load everything off to the side, verify
    /// the group end to end, then switch routing at once (quiescing requests); roll back on failure.
    case coordinated

    public var strategy: any RecoveryStrategy {
        switch self {
        case .simple: return SimpleRecovery()
        case .progressive: return ProgressiveRecovery()
        case .coordinated: return CoordinatedRecovery()
        }
    }
}

public protocol RecoveryStrategy: Sendable {
    var kind: RecoveryStrategyKind { get }
    /// Restores `pool` as far as the strategy promises, recording every step.
    func recover(_ pool: Pool, log: RecoveryLog)
}

extension Pool {
    /// Detects what is broken and restores the pool with `strategy`; every step timed.
    public func recover(using strategy: RecoveryStrategyKind) -> RecoveryRecord {
        let log = RecoveryLog(pool: self)
        events.record("recovery", "\(strategy.rawValue) starts")
        strategy.strategy.recover(self, log: log)
        let record = log.record(strategy: strategy.rawValue, placementBefore: placement, placementAfter: currentRoute)
        events.record("recovery", "\(strategy.rawValue) \(record.success ? "succeeded" : "failed"): \(record.message)")
        return record
    }
}

/// What a recovery did so far: its timed steps and outcome.
public final class RecoveryLog: @unchecked Sendable {  // used by one recovery on one thread
    let pool: Pool
    let start = ContinuousClock.now
    var steps: [RecoveryStep] = []
    var rebuilt: [String] = []
    /// Browsers whose crash this recovery has counted on the degradation ladder.
    var crashesCounted: Set<String> = []
    var reconnected: [String] = []
    /// Contexts whose weights were restored from the source after silent corruption.
    var restored: [String] = []
    var attempts = 0
    var failures: [String] = []
    var notes: [String] = []
    /// When routing was back as promised (before the trailing cleanup).
    private var restoredAt: ContinuousClock.Instant?

    func markRestored() { if restoredAt == nil { restoredAt = .now } }

    init(pool: Pool) { self.pool = pool }

    /// Runs `body` as a named step of `context`.
    @discardableResult
    func timed<T>(_ name: String, _ context: String, bytes: Int? = nil, detail: String? = nil,
                  _ body: () throws -> T) rethrows -> T {
        let start = ContinuousClock.now
        defer {
            steps.append(RecoveryStep(name: name, context: context, since: start, on: pool.events,
                                      bytes: bytes, detail: detail))
        }
        return try body()
    }

    func fail(_ why: String) {
        failures.append(why)
        pool.events.record("recovery", "problem: \(why)")
    }

    func record(strategy: String, placementBefore: Placement, placementAfter: Placement) -> RecoveryRecord {
        let degraded = placementAfter.contexts.contains(Pool.cpuFallback)
        let success = failures.isEmpty && !degraded
        var message = success ? "Recovery succeeded" : "Recovery failed: " + failures.joined(separator: "; ")
        if degraded { message += (failures.isEmpty ? ": " : "; ") + "degraded: shards served by the CPU fallback" }
        if !notes.isEmpty { message += " (" + notes.joined(separator: "; ") + ")" }
        var record = RecoveryRecord(strategy: strategy, success: success, degraded: degraded, message: message, steps: steps,
                              bytesUploaded: steps.filter { $0.name == "weight_upload" || $0.name == "weight_restore" }.compactMap(\.bytes).reduce(0, +),
                              contextsRebuilt: rebuilt, contextsReconnected: reconnected,
                              placementBefore: placementBefore, placementAfter: placementAfter,
                              attempts: attempts, duration: ((restoredAt ?? .now) - start).seconds)
        record.contextsRestored = restored.isEmpty ? nil : restored
        return record
    }
}
