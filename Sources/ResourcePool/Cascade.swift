import Foundation

/// cascading_failure's second fault. The injector crashes a browser and arms the cascade; the
/// recovery that follows strikes it when it reaches the stage drawn at its start, so the fault
/// lands inside recovery's own work, where the strategies' retries and budgets are tested:
/// - `detection`: the context serving the first fault's shards (the failover target) crashes
///   as recovery begins to look;
/// - `weight_upload`: the rebuilt context crashes with part of its weights uploaded;
/// - `first_dispatch`: the rebuilt context crashes before its first dispatch is checked.
/// simple rebuilds nothing, so only `detection` lands in its recovery.
public final class Cascade: @unchecked Sendable {  // state under `lock`
    public enum Stage: String, Sendable, Codable, CaseIterable {
        case detection
        case weightUpload = "weight_upload"
        case firstDispatch = "first_dispatch"

        public static func stages(for strategy: RecoveryStrategyKind) -> [Stage] {
            strategy == .simple ? [.detection] : [.detection, .weightUpload, .firstDispatch]
        }
    }

    private let lock = NSLock()
    /// The contexts the first fault hit, while the second waits.
    private var firstHit: Set<String>?
    private var stage: Stage?
    private var second: FaultRecord?

    /// Arms the second fault after a first that hit `contexts` (a new arming replaces an old one).
    func arm(after contexts: [String]) {
        lock.withLock { firstHit = Set(contexts); stage = nil; second = nil }
    }

    /// The armed cascade's stage for this recovery: `chosen`, else drawn with the pool's seed
    /// among the strategy's; nil when none waits.
    func begin(_ strategy: RecoveryStrategyKind, chosen: Stage?, draw: () -> Double) -> Stage? {
        lock.withLock {
            guard firstHit != nil, second == nil else { return nil }
            if stage == nil, let chosen {
                stage = chosen
            } else if stage == nil {
                let stages = Stage.stages(for: strategy)
                stage = stages[min(stages.count - 1, Int(draw() * Double(stages.count)))]
            }
            return stage
        }
    }

    /// The second fault, once it struck.
    public var struck: FaultRecord? { lock.withLock { second } }
    /// The stage it waits for (or struck at); nil when nothing is armed.
    public var drawnStage: Stage? { lock.withLock { stage } }
    /// Whether a cascade was armed (by a cascading_failure injection).
    public var isArmed: Bool { lock.withLock { firstHit != nil } }

    /// True when reaching `stage` on `context` would strike now.
    func waits(for stage: Stage, on context: BrowserContext) -> Bool {
        lock.withLock { second == nil && self.stage == stage && firstHit?.contains(context.name) == true }
    }

    /// Recovery reached `stage` (on `context`, being restored; nil at detection): strikes the
    /// second fault once if this is where it waits.
    func reached(_ stage: Stage, on context: BrowserContext?, in pool: Pool, _ detail: String) {
        let hit: Set<String>? = lock.withLock { second == nil && self.stage == stage ? firstHit : nil }
        guard let hit else { return }
        let target: BrowserContext?
        if let context {
            guard hit.contains(context.name) else { return }
            target = context
        } else {
            target = Self.failoverTarget(after: hit, in: pool)
        }
        guard let target, target.isUp else { return }
        var record: FaultRecord
        do {
            record = try FaultInjector.single(.browserCrash, on: target, in: pool, component: nil, seed: nil)
        } catch {  // said, so the scenario's "never struck" has its reason in the log
            pool.events.record("fault", context: target.name, "cascading_failure: the second crash could not be made: \(error)")
            return
        }
        record.duringRecovery = "\(stage.rawValue): \(detail)"
        for name in record.targets {
            pool.events.record("fault", context: name, "cascading_failure: browser_crash on \(name) during recovery's \(stage.rawValue) (\(record.simulated ? "simulated" : record.mechanism ?? "real"))")
        }
        lock.withLock { second = record }
    }

    /// The live webgpu context serving what the first fault's contexts were planned to serve,
    /// else the first live webgpu context of another browser.
    private static func failoverTarget(after hit: Set<String>, in pool: Pool) -> BrowserContext? {
        let struck = Set(pool.contexts.filter { hit.contains($0.name) }.map(\.browser))
        let routes = pool.currentRoute.contexts
        let live = FaultInjector.candidates(pool).filter { !struck.contains($0.browser) }
        let serving = pool.plan.shards.indices.filter { hit.contains(pool.placement.contexts[$0]) }.map { routes[$0] }
        return live.first { serving.contains($0.name) } ?? live.first
    }
}

extension FaultRecord {
    /// cascading_failure: the first crash as one part, the second (once it struck) as another.
    static func cascading(first: FaultRecord, second: FaultRecord?, seed: UInt64) -> FaultRecord {
        let parts = [first] + (second.map { [$0] } ?? [])
        var targets: [String] = []
        for t in parts.flatMap(\.targets) where !targets.contains(t) { targets.append(t) }
        var whole = FaultRecord(kind: .cascadingFailure, targets: targets, simulated: parts.allSatisfy(\.simulated),
                                seed: seed, teardown: parts.flatMap(\.teardown), parts: parts,
                                mechanism: "\(first.mechanism ?? "crash"), then \(second?.mechanism ?? "a second crash") during recovery",
                                pids: parts.compactMap(\.pids).flatMap { $0 }, start: first.start)
        whole.requestsInFlight = first.requestsInFlight
        return whole
    }
}
