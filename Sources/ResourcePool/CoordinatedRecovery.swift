import Foundation
import Transformer

/// coordinated: the affected group — every shard whose home or current route is a failed
/// context — recovers together. The contexts are rebuilt or reconnected and the group's
/// weights loaded while routing stays as it is; the whole model is then run through the
/// candidate routing and checked against the reference; only then, with requests quiesced,
/// routing switches in one step. If any part fails, it rolls back: routing is untouched and the
/// half-built contexts are released.
struct CoordinatedRecovery: RecoveryStrategy {
    let kind = RecoveryStrategyKind.coordinated

    func recover(_ pool: Pool, log: RecoveryLog) {
        let problems = pool.detect(log)
        let affected = Set(problems.map(\.0.name))
        let routes = pool.currentRoute.contexts
        let group = pool.plan.shards.indices.filter {
            affected.contains(pool.placement.contexts[$0]) || affected.contains(routes[$0]) || routes[$0] == Pool.cpuFallback
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
            }
        }
        // 2. The group's weights on their homes.
        var candidate = routes
        for i in group {
            let home = pool.placement.contexts[i]
            guard let context = pool.context(named: home), context.state == .ready else {
                return rollBack("shard \(i)'s home \(home) is not ready")
            }
            let missing = pool.plan.shards[i].components.filter { !context.heldComponents.contains($0) }
            let bytes = missing.reduce(0) { $0 + $1.byteSize(in: pool.config) }
            do {
                if !missing.isEmpty {
                    try log.timed("weight_upload", home, bytes: bytes, detail: "shard \(i)") { _ = try context.load(missing) }
                }
            } catch {
                return rollBack("loading shard \(i) on \(home): \(error)")
            }
            candidate[i] = home
        }
        // 3. The group verified end to end through the candidate routing.
        do {
            try log.timed("first_dispatch", "group", detail: "shards \(group.map(String.init).joined(separator: ","))") {
                try runProbe(pool, routes: candidate)
            }
            try log.timed("verification", "group", detail: "whole model vs the CPU reference") { try runProbe(pool, routes: candidate) }
        } catch {
            return rollBack("group verification: \(error)")
        }
        // 4. Quiesce and switch at once.
        let switched: Bool? = log.timed("routing_switch", "pool", detail: "shards \(group.map(String.init).joined(separator: ",")) at once") {
            pool.gate.exclusive(deadline: pool.configuration.quiesceDeadline) { () -> Bool in
                pool.setRoutes(candidate)
                return true
            }
        }
        guard switched != nil else { return rollBack("requests did not drain within the quiesce deadline") }
        pool.pruneCopies(log)
    }

    /// The probe input through every shard along `routes`, checked at every boundary.
    private func runProbe(_ pool: Pool, routes: [String]) throws {
        var state = pool.probe.states[0]
        for (i, shard) in pool.plan.shards.enumerated() {
            if routes[i] == Pool.cpuFallback {
                try pool.environment.cpu.run(shard.components, state: &state)
            } else {
                guard let context = pool.context(named: routes[i]) else { throw PoolError.noContext(routes[i]) }
                try context.run(shard.components, state: &state)
            }
            try pool.probe.check(state, after: i)
        }
    }
}
