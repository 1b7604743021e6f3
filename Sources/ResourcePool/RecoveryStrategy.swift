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

    var strategy: any RecoveryStrategy {
        switch self {
        case .simple: return SimpleRecovery()
        case .progressive: return ProgressiveRecovery()
        case .coordinated: return CoordinatedRecovery()
        }
    }
}

protocol RecoveryStrategy: Sendable {
    var kind: RecoveryStrategyKind { get }
    /// Restores the pool, through `pool`'s steps, as far as the strategy promises, recording every step.
    func recover(_ pool: any RecoverySteps, log: RecoveryLog)
}

extension Pool {
    /// Detects what is broken and restores the pool with `strategy`; every step timed.
    /// A round that fails because a new fault struck while it worked (a rebuilt browser crashed
    /// again, the failover target was lost) goes round again, up to `recoveryRounds` rounds;
    /// the restart budget is the recovery's, not the round's.
    public func recover(using strategy: RecoveryStrategyKind) -> RecoveryRecord {
        let log = RecoveryLog(events: events)
        events.record("recovery", "\(strategy.rawValue) starts")
        if let stage = cascade.begin(strategy, chosen: configuration.cascadeStage, draw: draw) {
            events.record("recovery", "cascading_failure: a second crash waits for this recovery's \(stage.rawValue)")
        }
        for round in 1...Self.recoveryRounds {
            strategy.strategy.recover(self, log: log)  // its detection records `noticedBefore`
            guard !log.failures.isEmpty, lossesNoticed > log.noticedBefore, round < Self.recoveryRounds else { break }
            events.record("recovery", "round \(round) failed on a fault that struck during it: round \(round + 1)")
            log.nextRound()
        }
        let record = log.record(strategy: strategy.rawValue, placementBefore: placement, placementAfter: currentRoute)
        events.record("recovery", "\(strategy.rawValue) \(record.success ? "succeeded" : "failed"): \(record.message)")
        return record
    }

    /// Rounds one recovery may take: the first, one for a fault during it, one for a fault during that.
    static let recoveryRounds = 3
}

/// What a recovery did so far: its timed steps and outcome.
public final class RecoveryLog: @unchecked Sendable {  // used by one recovery on one thread
    let events: EventLog
    let start = ContinuousClock.now
    var steps: [RecoveryStep] = []
    var rebuilt: [String] = []
    /// Browsers whose crash this recovery has counted on the degradation ladder.
    var crashesCounted: Set<String> = []
    var reconnected: [String] = []
    /// Contexts whose weights were restored from the source after silent corruption.
    var restored: [String] = []
    var attempts = 0
    /// Rebuilds tried per context, over every round (the restart budget is the recovery's).
    var rebuildsTried: [String: Int] = [:]
    /// Rounds begun, and how many losses were news when this round's detection ended (a loss
    /// noticed later struck during the round).
    private(set) var rounds = 1
    var noticedBefore = 0
    var failures: [String] = []
    var notes: [String] = []
    /// When routing was back as promised (before the trailing cleanup).
    private var restoredAt: ContinuousClock.Instant?

    func markRestored() { if restoredAt == nil { restoredAt = .now } }

    init(events: EventLog) { self.events = events }

    /// Runs `body` as a named step of `context`.
    @discardableResult
    func timed<T>(_ name: String, _ context: String, bytes: Int? = nil, detail: String? = nil,
                  _ body: () throws -> T) rethrows -> T {
        let start = ContinuousClock.now
        defer {
            steps.append(RecoveryStep(name: name, context: context, since: start, on: events,
                                      bytes: bytes, detail: detail))
        }
        return try body()
    }

    /// A context rebuilt (named once however many rounds rebuilt it; `attempts` counts them).
    func noteRebuilt(_ name: String) { if !rebuilt.contains(name) { rebuilt.append(name) } }

    /// A new round: what failed in the last one is history (a note), and a crash met again is a new crash.
    func nextRound() {
        notes += failures.map { "round \(rounds): \($0)" }
        failures = []
        crashesCounted = []
        rounds += 1
    }

    func fail(_ why: String) {
        failures.append(why)
        events.record("recovery", "problem: \(why)")
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
        record.rounds = rounds > 1 ? rounds : nil
        return record
    }
}
