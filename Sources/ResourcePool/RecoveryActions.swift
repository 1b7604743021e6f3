import Foundation
import Transformer
import TransformerGPU
import VulkanCompute

/// What detection found wrong with a context.
enum ContextProblem: Sendable {
    case disconnected
    case crashed
    case missing([ModelComponent])
    /// Quarantined for silent corruption: its weights must be restored from the source.
    case corrupted(CorruptionFinding)
}

/// The steps every strategy is built from; each records its timing in the log.
extension Pool {
    /// Heartbeats every webgpu context (a tiny dispatch with a deadline) and checks that each
    /// holds the components planned on it. Contexts already given up on are skipped unless
    /// their breaker allows a probe.
    func detect(_ log: RecoveryLog) -> [(BrowserContext, ContextProblem)] {
        cascade.reached(.detection, on: nil, in: self, "the failover target crashed as recovery began to look")
        var problems: [(BrowserContext, ContextProblem)] = []
        // What detection notices is this round's work; a loss noticed after it struck during the round.
        defer { log.noticedBefore = lossesNoticed }
        for context in contexts where context.backend == .webgpu {
            if context.state == .failed && !context.breaker.allows { continue }
            if let finding = context.quarantineFinding {
                problems.append((context, .corrupted(finding)))
                events.record("detected", context: context.name, "quarantined: \(finding)")
                continue
            }
            let planned = placement.shards(on: context.name).flatMap { plan.shards[$0].components }
            let problem: ContextProblem? = log.timed("detection", context.name) {
                do {
                    try context.heartbeat(deadline: configuration.heartbeatDeadline)
                } catch {
                    noteFailure(of: context, error)
                    if case .device? = ContextLoss(error) { return .crashed }
                    return .disconnected
                }
                let missing = context.missingComponents(of: planned)
                return missing.isEmpty ? nil : .missing(missing)
            }
            if let problem {
                problems.append((context, problem))
                events.record("detected", context: context.name, "\(problem)")
            }
        }
        return problems
    }

    /// A new channel on the same device (0 bytes move). False if the device is gone: a note, as
    /// what follows (a rebuild, or the context left down) is the strategy's to decide.
    func reconnect(_ context: BrowserContext, _ log: RecoveryLog) -> Bool {
        context.transition(to: .recovering, "reconnecting")
        do {
            log.steps += try context.reconnect()
            log.reconnected.append(context.name)
            return true
        } catch {
            noteFailure(of: context, error)
            // Not the recovery's failure: the strategy rebuilds it, or leaves it down, and says so.
            log.notes.append("\(context.name) could not reconnect: \(error)")
            events.record("recovery", context: context.name, "could not reconnect: \(error)")
            return false
        }
    }

    /// Rebuilds a crashed context — cleanup, a fresh physical-device query, device, queue,
    /// pipelines — with bounded retries and exponential backoff with seeded jitter. The restart
    /// budget (`retry.maxAttempts`) counts rebuilds actually tried; each failed one also counts
    /// against the circuit breaker, so a browser that keeps crashing stops receiving shards.
    /// No weights yet (the strategy loads what it needs).
    func rebuild(_ context: BrowserContext, _ log: RecoveryLog) -> Bool {
        let policy = configuration.retry
        let budget = max(1, policy.maxAttempts)
        let tried = log.rebuildsTried[context.name, default: 0]
        var lastError = tried > 0 ? "crashed again after its rebuild in this recovery" : ""
        // The crash this rebuild recovers from counts once per browser and recovery (its
        // siblings rebuild from the same crash).
        applyDemotion(to: context)
        if log.crashesCounted.insert(context.browser).inserted { countCrash(of: context, "\(context.state.rawValue)") }
        for attempt in stride(from: tried + 1, through: budget, by: 1) {
            log.rebuildsTried[context.name] = attempt
            let delay = policy.delay(before: attempt, random: draw())
            if delay > 0 {
                // Retry backoff, not a stand-in for work: a real pause between real rebuild
                // attempts (a restarting browser needs time), reported as its own "backoff" step so
                // it is never counted as device creation or upload time. The jitter is seeded.
                log.timed("backoff", context.name, detail: "before attempt \(attempt)") { events.wait(delay) }
            }
            log.attempts += 1
            context.transition(to: .recovering, "rebuild attempt \(attempt)")
            log.steps.append(context.tearDown())
            if context.backend == .webnn {
                // Demoted to the CPU path: nothing to build; it serves from the host weights.
                _ = try? context.start(reason: "demoted to the CPU path")
                log.noteRebuilt(context.name)
                return true
            }
            do {
                log.steps += try context.start(reason: "rebuilt on attempt \(attempt)")
                context.breaker.recordSuccess()
                log.noteRebuilt(context.name)
                return true
            } catch {
                lastError = "\(error)"
                countCrash(of: context, "crashed while starting: \(error)")  // a start that crashes is a crash
                countFailure(of: context, "rebuild attempts that crashed")
                events.record("rebuild", context: context.name, "attempt \(attempt) failed: \(error)")
            }
        }
        context.transition(to: .failed, lastError)
        log.fail("\(context.name) stays down: restart budget spent, \(budget) rebuild\(budget == 1 ? "" : "s") tried (last: \(lastError))")
        return false
    }

    /// Makes shard `i` servable on `context` and proves it, with verification proportional to
    /// what changed: missing weights are uploaded and the shard is run once against the CPU
    /// reference (its first dispatch on this device — lavapipe compiles its kernels there);
    /// a context whose weights and pipelines survived (a reconnect) only needs its new queue
    /// proven, by a heartbeat dispatch.
    func restore(shard i: Int, on context: BrowserContext, rebuilt: Bool, _ log: RecoveryLog) throws {
        let missing = plan.shards[i].components.filter { !context.heldComponents.contains($0) }
        try upload(missing, shard: i, to: context, log)
        if missing.isEmpty && !rebuilt {
            try log.timed("verification", context.name, detail: "shard \(i): heartbeat on the new queue (weights and pipelines intact)") {
                try context.heartbeat(deadline: configuration.heartbeatDeadline)
            }
        } else {
            try log.timed("first_dispatch", context.name, detail: "shard \(i), checked against the CPU reference") {
                try verifyRecovered(shard: i, on: context)
            }
        }
        // Proven healthy: whatever the fault counted against its breaker is settled.
        context.breaker.recordSuccess()
    }

    /// Uploads a shard's missing weights to a context being restored, as one timed step.
    func upload(_ missing: [ModelComponent], shard i: Int, to context: BrowserContext, _ log: RecoveryLog) throws {
        guard !missing.isEmpty else { return }
        let bytes = missing.reduce(0) { $0 + $1.byteSize(in: config) }
        try log.timed("weight_upload", context.name, bytes: bytes, detail: "shard \(i): \(missing.map(\.id).joined(separator: ", "))") {
            // A cascade waiting here strikes with part of the weights on the device.
            let before = cascade.waits(for: .weightUpload, on: context) ? min(1, missing.count - 1) : missing.count
            _ = try context.load(Array(missing.prefix(before)))
            guard before < missing.count else { return }
            cascade.reached(.weightUpload, on: context, in: self, "shard \(i)'s weights on \(context.name), \(before) of \(missing.count) components uploaded")
            _ = try context.load(Array(missing.dropFirst(before)))
        }
    }

    /// A restored shard's first dispatch, checked against the CPU reference.
    func verifyRecovered(shard i: Int, on context: BrowserContext) throws {
        cascade.reached(.firstDispatch, on: context, in: self, "shard \(i) on \(context.name), before its first dispatch")
        try verify(shard: i, on: context)
    }

    /// Drops weights a context holds but no longer serves (failover copies), so memory returns
    /// to the plan. Runs after routing is restored: reported as `cleanup` steps, outside the
    /// recovery's duration (time until the pool serves as promised).
    func pruneCopies(_ log: RecoveryLog) {
        log.markRestored()
        let routes = currentRoute.contexts
        for context in contexts where context.backend == .webgpu && context.state == .ready {
            let needed = Set(routes.indices.filter { routes[$0] == context.name }.flatMap { plan.shards[$0].components })
            let extra = context.heldComponents.subtracting(needed)
            guard !extra.isEmpty else { continue }
            log.timed("cleanup", context.name, detail: "dropped failover copies: \(extra.map(\.id).sorted().joined(separator: ", "))") {
                context.unload(Array(extra))
            }
        }
    }

    /// The least-loaded ready webgpu context other than `excluded`.
    func leastLoaded(excluding excluded: Set<String>) -> BrowserContext? {
        let load = Dictionary(grouping: currentRoute.contexts, by: { $0 }).mapValues(\.count)
        return contexts.filter { $0.backend == .webgpu && $0.isRoutable && !excluded.contains($0.name) }
            .min { (load[$0.name] ?? 0) < (load[$1.name] ?? 0) }
    }
}
