import Foundation

/// progressive: phase 1 brings every failed context back (reconnect, or rebuild with bounded
/// retries and backoff); phase 2 returns each shard to its planned context one at a time,
/// verifying each on its home before routing switches to it.
struct ProgressiveRecovery: RecoveryStrategy {
    let kind = RecoveryStrategyKind.progressive

    func recover(_ pool: any RecoverySteps, log: RecoveryLog) {
        let problems = pool.detect(log)
        // Phase 1: contexts.
        for (context, problem) in problems {
            switch problem {
            case .disconnected:
                if !pool.reconnect(context, log) { _ = pool.rebuild(context, log) }
            case .crashed:
                _ = pool.rebuild(context, log)
            case .missing:
                break
            case .corrupted(let finding):
                _ = pool.restoreWeights(context, finding: finding, log)
            }
        }
        // Phase 2: shards home, one by one.
        for i in pool.plan.shards.indices {
            let home = pool.placement.contexts[i]
            guard let context = pool.context(named: home), context.state == .ready else {
                log.fail("shard \(i) cannot return home: \(home) is \(pool.context(named: home)?.state.rawValue ?? "unknown")")
                continue
            }
            let complete = Set(pool.plan.shards[i].components).isSubset(of: context.heldComponents)
            let touched = problems.contains { $0.0 === context }
            guard pool.currentRoute.contexts[i] != home || !complete || touched else { continue }
            do {
                try pool.restore(shard: i, on: context, rebuilt: log.rebuilt.contains(home), log)
                log.timed("routing_switch", home, detail: "shard \(i) home") { pool.setRoute(i, to: home) }
            } catch {
                pool.noteFailure(of: context, error)
                log.fail("shard \(i) could not return to \(home): \(error)")
            }
        }
        pool.pruneCopies(log)
    }
}
