import Foundation
import Transformer
import TransformerGPU
import VulkanCompute

/// One shard moved to another context because its context failed under a request.
public struct Failover: Sendable, Codable {
    public let shard: Int
    public let from: String
    public let to: String
    /// The typed error that revealed the fault.
    public let reason: String
    /// How long the failing call took to report it (detection latency on this request).
    public let detectionSeconds: Double
    /// Weights uploaded to the new context, and how long that took.
    public let bytes: Int
    public let uploadSeconds: Double
}

/// An inference through the pool, checked against the CPU reference.
public struct InferenceResult: Sendable {
    public let output: ModelOutput
    /// The context that served each shard ("cpu" for the pool's CPU fallback).
    public let route: [String]
    public let failovers: [Failover]
    /// True when a shard had to run on the pool's CPU fallback (no context could take it).
    public let degraded: Bool
    /// Whether each shard's output was checked against the CPU reference (the reference detector).
    public let verified: Bool
    /// Silent corruption this request met and the pool caught (the shard then failed over).
    public let caught: [CorruptionDetection]
    public let seconds: Double
    public let comparison: NumericComparison
    public let pooledComparison: NumericComparison?

    /// Within max abs 1e-4 and relative L2 2e-5 of the reference.
    public var matchesReference: Bool { comparison.passes() && (pooledComparison?.passes() ?? true) }
}

extension Pool {
    /// Runs `input` shard by shard through the routing table, failing shards over as contexts
    /// fail, and compares the output with `reference` (computed here when nil). On a verified
    /// request (`PoolConfiguration.verifyEvery`) each webgpu shard's output is checked against
    /// the reference's state at that shard boundary before it moves on: a wrong one is silent
    /// corruption, and the shard fails over like any other loss, so no wrong answer leaves the
    /// pool. Safe to call from several threads: requests pipeline across contexts.
    public func infer(_ input: ModelInput, reference: ReferenceTrace? = nil) throws -> InferenceResult {
        let start = ContinuousClock.now
        let trace = try reference ?? self.reference(for: input)
        let expected = trace.output
        let verified = corruption.nextRequestVerified()
        return try gate.shared {
            events.requestsInFlight(1)
            defer { events.requestsInFlight(-1) }
            var state = try ActivationState.initial(input, config: config)
            var route: [String] = []
            var failovers: [Failover] = []
            var caught: [CorruptionDetection] = []
            var degraded = false
            for (i, shard) in plan.shards.enumerated() {
                var tried: Set<String> = []
                while true {
                    let target = currentRoute.contexts[i]
                    if target == Pool.cpuFallback {
                        try environment.cpu.run(shard.components, state: &state)
                        route.append(target)
                        degraded = true
                        break
                    }
                    guard let context = context(named: target) else { throw PoolError.noContext(target) }
                    guard context.isRoutable else {
                        // Known to be down (or its breaker open): route around it. This is not a
                        // new failure of the context, so nothing is counted against it.
                        tried.insert(target)
                        let why = "\(target) is \(context.state.rawValue) (breaker \(context.breaker.state.rawValue))"
                        failovers.append(try failOver(shard: i, from: target, reason: why, detection: 0, tried: tried))
                        continue
                    }
                    let attempt = ContinuousClock.now
                    let before = state
                    let generation = context.generation
                    do {
                        try context.run(shard.components, state: &state)
                        if verified, context.backend == .webgpu, let why = trace.mismatch(state, after: i) {
                            state = before
                            let wrong = localize(shard.components, on: context, from: before)
                            throw CorruptionFinding(detector: .reference, component: wrong?.id,
                                                    detail: "shard \(i) (\(shard.components.map(\.id).joined(separator: ", "))) differs from the CPU reference\(why)"
                                                        + (wrong.map { "; the first wrong output is \($0.id)'s" } ?? "; no component alone reproduces it (transient)"))
                        }
                        events.span("shard \(i)", category: "shard_run", context: target, start: events.offset(of: attempt),
                                    duration: (ContinuousClock.now - attempt).seconds,
                                    args: ["components": shard.components.map(\.id).joined(separator: ", ")])
                        context.breaker.recordSuccess()
                        route.append(target)
                        break
                    } catch {
                        guard ContextLoss.isLoss(error) else { throw error }
                        let detection = (ContinuousClock.now - attempt).seconds
                        if let found = noteFailure(of: context, error, components: shard.components, shard: i, generation: generation) {
                            caught.append(found)
                        }
                        // Met on an engine a recovery has since replaced: the route decides again
                        // (the state is untouched by a failed run); no failover for a fault already mended.
                        if context.generation != generation { continue }
                        tried.insert(target)
                        failovers.append(try failOver(shard: i, from: target, reason: "\(error)", detection: detection, tried: tried))
                    }
                }
            }
            let output = state.output
            let (hidden, pooled) = output.compared(to: expected)
            return InferenceResult(output: output, route: route, failovers: failovers, degraded: degraded, verified: verified,
                                   caught: caught, seconds: (ContinuousClock.now - start).seconds, comparison: hidden,
                                   pooledComparison: pooled)
        }
    }

    /// Which component of a shard whose output was wrong computes wrong: each one run alone on
    /// `context` from the CPU reference's input to it, against the reference (nil when each
    /// alone is right: the fault did not last). Runs only after a mismatch, so the cost of a
    /// shard falls on the request that met the corruption, not on every request.
    func localize(_ components: [ModelComponent], on context: BrowserContext, from start: ActivationState) -> ModelComponent? {
        guard components.count > 1 else { return components.first }
        var state = start
        for c in components {
            var gpu = state
            do {
                try context.run([c], state: &gpu)
                try environment.cpu.run([c], state: &state)
            } catch {
                return nil
            }
            if !NumericComparison(actual: gpu.hidden, reference: state.hidden).passes() { return c }
        }
        return nil
    }

    /// Moves the context's state to what the error says, and counts the fault once against its
    /// circuit breaker: only when it is news (see `BrowserContext.recordLoss`). Silent
    /// corruption is recorded every time it is caught (each catch is a wrong answer that did not
    /// leave); returns that detection. `generation`: the engine the error was met on, read
    /// before using it, when another thread may replace it meanwhile (serving, the scrub).
    @discardableResult
    func noteFailure(of context: BrowserContext, _ error: any Error, components: [ModelComponent] = [],
                     shard: Int? = nil, generation: Int? = nil) -> CorruptionDetection? {
        var detection: CorruptionDetection?
        if let finding = error as? CorruptionFinding {
            let found = CorruptionDetection(t: events.now, context: context.name, shard: shard, finding: finding)
            corruption.add(found)
            events.record("corruption", context: context.name, "\(finding.detector) check" + (shard.map { ", shard \($0)" } ?? "") + ": \(finding)")
            detection = found
        }
        guard context.recordLoss(error, components: components, generation: generation) else { return detection }
        noticed(context, "\(error)")
        return detection
    }

    /// One fault counted against `context`'s circuit breaker, and said once when it opens: the
    /// only place either happens.
    func countFailure(of context: BrowserContext, _ why: String = "repeated failures") {
        if context.breaker.recordFailure() { events.record("breaker", context: context.name, "opened after \(why)") }
    }

    /// Re-routes shard `i` away from a failed context: to the healthiest other context that can
    /// take it (uploading its weights there), else the pool's CPU path. If another request got
    /// there first, follows its choice.
    func failOver(shard i: Int, from failed: String, reason: String, detection: Double, tried: Set<String>) throws -> Failover {
        if currentRoute.contexts[i] != failed {
            return Failover(shard: i, from: failed, to: currentRoute.contexts[i], reason: reason, detectionSeconds: detection,
                            bytes: 0, uploadSeconds: 0)
        }
        let components = plan.shards[i].components
        for candidate in failoverCandidates(for: i, excluding: tried) {
            let generation = candidate.generation
            do {
                let (bytes, seconds) = try candidate.load(components)
                setRoute(i, to: candidate.name)
                events.record("failover", context: candidate.name, "shard \(i) from \(failed): \(reason)")
                return Failover(shard: i, from: failed, to: candidate.name, reason: reason, detectionSeconds: detection,
                                bytes: bytes, uploadSeconds: seconds)
            } catch where ContextLoss.isLoss(error) {
                noteFailure(of: candidate, error, components: components, generation: generation)
            }
        }
        setRoute(i, to: Pool.cpuFallback)
        events.record("failover", "shard \(i) from \(failed) to the CPU path (degraded): \(reason)")
        return Failover(shard: i, from: failed, to: Pool.cpuFallback, reason: reason, detectionSeconds: detection, bytes: 0, uploadSeconds: 0)
    }

    /// Ready contexts with a closed breaker, best first: webgpu before webnn; those already
    /// holding the shard's weights; then the least loaded; then declaration order.
    func failoverCandidates(for shard: Int, excluding excluded: Set<String>) -> [BrowserContext] {
        let components = Set(plan.shards[shard].components)
        let load = Dictionary(grouping: currentRoute.contexts, by: { $0 }).mapValues(\.count)
        return contexts.enumerated()
            .filter { !excluded.contains($0.element.name) && $0.element.isRoutable }
            .sorted { a, b in
                func key(_ e: (offset: Int, element: BrowserContext)) -> (Int, Int, Int, Int) {
                    (e.element.backend == .webgpu ? 0 : 1, components.isSubset(of: e.element.heldComponents) ? 0 : 1,
                     load[e.element.name] ?? 0, e.offset)
                }
                return key(a) < key(b)
            }
            .map(\.element)
    }
}
