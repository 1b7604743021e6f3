import Foundation
import Transformer
import TransformerGPU

/// All a recovery strategy may see and do: the plan and the routes, the contexts by name, and
/// the steps strategies are built from (`RecoveryActions`, `WeightRestore`). A strategy decides
/// which steps to take and in what order; how a step is done (engines, processes, the breaker,
/// the ladder, the event log) stays behind this seam, so a strategy can be read, and tested, on
/// its own. `Pool` is the one real implementation.
protocol RecoverySteps: AnyObject {
    var plan: ShardPlan { get }
    /// Where each shard belongs (the plan's placement): what the strategies restore towards.
    var placement: Placement { get }
    /// Where each shard is served now.
    var currentRoute: Placement { get }
    func context(named name: String) -> BrowserContext?

    /// What is broken: a heartbeat and a look at the weights of every context worth probing.
    func detect(_ log: RecoveryLog) -> [(BrowserContext, ContextProblem)]
    /// A new channel on the same device; false when the device is gone too.
    func reconnect(_ context: BrowserContext, _ log: RecoveryLog) -> Bool
    /// A new device (or process) for `context`, within the recovery's restart budget.
    func rebuild(_ context: BrowserContext, _ log: RecoveryLog) -> Bool
    /// A quarantined context's weights back from the source, scrubbed and verified.
    func restoreWeights(_ context: BrowserContext, finding: CorruptionFinding, _ log: RecoveryLog) -> Bool
    /// Shard `i` made servable on `context` and proven (upload what is missing, then verify).
    func restore(shard i: Int, on context: BrowserContext, rebuilt: Bool, _ log: RecoveryLog) throws
    /// Shard `i`'s missing components uploaded to `context`, unverified.
    func upload(_ missing: [ModelComponent], shard i: Int, to context: BrowserContext, _ log: RecoveryLog) throws
    /// Shard `i` run on `context` and checked against the CPU reference.
    func verifyRecovered(shard i: Int, on context: BrowserContext) throws
    /// A heartbeat dispatch on `context` within the pool's heartbeat deadline.
    func heartbeat(_ context: BrowserContext) throws
    /// A step met `error` on `context`: the loss recorded where losses are recorded.
    func noteFailure(of context: BrowserContext, _ error: any Error)
    /// The least-loaded ready webgpu context whose name is not in `excluded`.
    func leastLoaded(excluding excluded: Set<String>) -> BrowserContext?

    func setRoute(_ shard: Int, to context: String)
    /// Every route switched at once with no request in the middle of the model; nil (and
    /// nothing switched) when requests in flight did not drain within the quiesce deadline.
    func switchRoutesQuiesced(to table: [String]) -> Bool
    /// Routing is as promised: drops failover copies no route needs (cleanup, after the
    /// recovery's measured duration).
    func pruneCopies(_ log: RecoveryLog)
}

extension Pool: RecoverySteps {
    func heartbeat(_ context: BrowserContext) throws {
        try context.heartbeat(deadline: configuration.heartbeatDeadline)
    }

    func noteFailure(of context: BrowserContext, _ error: any Error) {
        noteFailure(of: context, error, components: [])
    }

    func switchRoutesQuiesced(to table: [String]) -> Bool {
        gate.exclusive(deadline: configuration.quiesceDeadline) { setRoutes(table) } != nil
    }
}
