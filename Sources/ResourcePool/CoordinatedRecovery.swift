import Foundation
import Transformer

/// coordinated: the affected group — every shard whose home or current route is a failed
/// context, or that is away from its home — recovers together. The contexts are rebuilt or
/// reconnected and the group's weights loaded while routing stays as it is; every shard of the
/// group is then checked against the reference on its home; only then, with requests quiesced,
/// routing switches in one step. If any part fails, it rolls back: routing is untouched and the
/// half-built contexts are released.
struct CoordinatedRecovery: RecoveryStrategy {
    let kind = RecoveryStrategyKind.coordinated

    func recover(_ pool: any RecoverySteps, log: RecoveryLog) {
        let problems = pool.detect(log)
        let affected = Set(problems.map(\.0.name))
        let routes = pool.currentRoute.contexts
        // A shard away from its home belongs to the group too, though its home looks healthy now:
        // an earlier round (or recovery) that rolled back left it there, and coordinated promises the plan.
        let group = pool.plan.shards.indices.filter {
            affected.contains(pool.placement.contexts[$0]) || affected.contains(routes[$0]) || routes[$0] != pool.placement.contexts[$0]
        }
        guard !group.isEmpty else { return }
        var rebuiltHere: [BrowserContext] = []

        func rollBack(_ why: String) {
            log.timed("rollback", "pool", detail: why) {
                for context in rebuiltHere {
                    _ = context.tearDown()
                    context.transition(to: .crashed, "rolled back: \(why)")
                }
            }
            log.fail("rolled back, routing unchanged: \(why)")
        }

        // 1. Contexts, off to the side (routing untouched).
        for (context, problem) in problems {
            switch problem {
            case .disconnected:
                if pool.reconnect(context, log) { continue }
                guard pool.rebuild(context, log) else { return rollBack("\(context.name) could not be rebuilt") }
                rebuiltHere.append(context)
            case .crashed:
                guard pool.rebuild(context, log) else { return rollBack("\(context.name) could not be rebuilt") }
                rebuiltHere.append(context)
            case .missing:
                break
            case .corrupted(let finding):
                guard pool.restoreWeights(context, finding: finding, log) else {
                    return rollBack("\(context.name)'s weights could not be restored")
                }
            }
        }
        // 2. The group's weights on their homes.
        var candidate = routes
        var changed: Set<Int> = []  // shards whose weights or device are new: checked in full
        for i in group {
            let home = pool.placement.contexts[i]
            guard let context = pool.context(named: home), context.state == .ready else {
                return rollBack("shard \(i)'s home \(home) is not ready")
            }
            let missing = pool.plan.shards[i].components.filter { !context.heldComponents.contains($0) }
            do {
                try pool.upload(missing, shard: i, to: context, log)
            } catch {
                pool.noteFailure(of: context, error)
                return rollBack("loading shard \(i) on \(home): \(error)")
            }
            candidate[i] = home
            if !missing.isEmpty || log.rebuilt.contains(home) || log.restored.contains(home) || routes[i] != home { changed.insert(i) }
        }
        // 3. The group verified through the candidate routing: each shard of the group from the
        //    reference state before it, checked against the reference after it (the first dispatch
        //    on rebuilt devices), and the contexts that were only reconnected by a heartbeat.
        do {
            try log.timed("first_dispatch", "group", detail: "shards \(group.map(String.init).joined(separator: ",")) vs the CPU reference") {
                for i in group where changed.contains(i) {
                    guard let context = pool.context(named: candidate[i]) else { throw PoolError.noContext(candidate[i]) }
                    do { try pool.verifyRecovered(shard: i, on: context) } catch { pool.noteFailure(of: context, error); throw error }
                }
            }
            try log.timed("verification", "group", detail: "heartbeat on every recovered context") {
                for (context, _) in problems where context.state == .ready {
                    do { try pool.heartbeat(context) } catch { pool.noteFailure(of: context, error); throw error }
                }
            }
            // Proven healthy: whatever the fault counted against their breakers is settled.
            for (context, _) in problems where context.state == .ready { context.breaker.recordSuccess() }
        } catch {
            return rollBack("group verification: \(error)")
        }
        // 4. Quiesce and switch at once.
        let switched = log.timed("routing_switch", "pool", detail: "shards \(group.map(String.init).joined(separator: ",")) at once") {
            pool.switchRoutesQuiesced(to: candidate)
        }
        guard switched else { return rollBack("requests did not drain within the quiesce deadline") }
        pool.pruneCopies(log)
    }
}
