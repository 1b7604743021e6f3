import Foundation

/// simple: each failed component on its own. A lost connection is reconnected (its weights are
/// still there), a missing component is reloaded on its home context, corrupted weights are
/// restored in place, and a shard whose home crashed is loaded on the least-loaded healthy
/// context. Crashed contexts stay down.
struct SimpleRecovery: RecoveryStrategy {
    let kind = RecoveryStrategyKind.simple

    func recover(_ pool: any RecoverySteps, log: RecoveryLog) {
        let problems = pool.detect(log)
        var down: Set<String> = []
        for (context, problem) in problems {
            switch problem {
            case .disconnected:
                if !pool.reconnect(context, log) { down.insert(context.name) }
            case .crashed:
                down.insert(context.name)
                log.notes.append("\(context.name) stays down (simple does not rebuild)")
            case .missing:
                break  // reloaded below, shard by shard
            case .corrupted(let finding):
                if !pool.restoreWeights(context, finding: finding, log) { down.insert(context.name) }
            }
        }
        for i in pool.plan.shards.indices {
            let home = pool.placement.contexts[i]
            let route = pool.currentRoute.contexts[i]
            guard let homeContext = pool.context(named: home) else { continue }
            let homeHealthy = !down.contains(home) && homeContext.state == .ready
            let target: BrowserContext?
            if homeHealthy {
                target = homeContext
            } else if route != home, route != Pool.cpuFallback, pool.context(named: route)?.state == .ready {
                continue  // already served by a healthy context
            } else {
                target = pool.leastLoaded(excluding: down.union([home]))
            }
            guard let target else {
                log.fail("no healthy context for shard \(i)")
                continue
            }
            let needsWork = route != target.name
                || !Set(pool.plan.shards[i].components).isSubset(of: target.heldComponents)
                || problems.contains { $0.0 === target }
            guard needsWork else { continue }
            do {
                try pool.restore(shard: i, on: target, rebuilt: false, log)
                log.timed("routing_switch", target.name, detail: "shard \(i)") { pool.setRoute(i, to: target.name) }
            } catch {
                pool.noteFailure(of: target, error)
                log.fail("shard \(i) could not be restored on \(target.name): \(error)")
            }
        }
        pool.pruneCopies(log)
    }
}
