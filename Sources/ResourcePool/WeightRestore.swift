import Foundation
import Transformer
import TransformerGPU
import VulkanCompute

/// Recovery from silent corruption: a quarantined context's weights restored from the source,
/// proven by a scrub and by running its shards against the CPU reference before it serves
/// again; a context whose restore does not hold is bad hardware, isolated for good.
extension Pool {
    /// Scrubs every live webgpu context (the periodic scrub's pass, or a recovery's look for
    /// corruption no request has met). Each context found corrupted is quarantined. Returns
    /// the detections and the scrubs' time.
    @discardableResult
    public func scrub() -> (detections: [CorruptionDetection], seconds: Double, bytes: Int) {
        guard configuration.integrity.scrubbing else { return ([], 0, 0) }
        var found: [CorruptionDetection] = [], seconds = 0.0, bytes = 0
        for context in contexts where context.backend == .webgpu && context.state == .ready {
            let start = ContinuousClock.now
            let generation = context.generation
            do {
                guard let result = try context.scrub() else { continue }
                bytes += result.bytes
                events.span("scrub", category: "scrub", context: context.name, start: events.offset(of: start),
                            duration: (ContinuousClock.now - start).seconds, args: ["bytes": "\(result.bytes)"])
                for finding in result.findings {
                    if let detection = noteFailure(of: context, finding, generation: generation) { found.append(detection) }
                }
            } catch where ContextLoss.isLoss(error) {
                noteFailure(of: context, error, generation: generation)  // the scrub met another fault: the next recovery sees it
            } catch {
                events.record("scrub", context: context.name, "could not scrub: \(error)")
            }
            seconds += (ContinuousClock.now - start).seconds
        }
        return (found, seconds, bytes)
    }

    /// Restores a quarantined context: finds what is wrong (a scrub, when on), uploads those
    /// components again from the source, scrubs again, and runs each of its shards against the
    /// CPU reference. True when it may serve again; false when it could not be restored or was
    /// isolated (its weights went wrong again after the restore: bad hardware).
    func restoreWeights(_ context: BrowserContext, finding: CorruptionFinding, _ log: RecoveryLog) -> Bool {
        context.transition(to: .recovering, "restoring its weights from the source")
        let planned = Set(placement.shards(on: context.name).flatMap { plan.shards[$0].components })
        let held = context.heldComponents.union(planned)
        var damaged: Set<ModelComponent> = []
        do {
            if configuration.integrity.scrubbing {
                let result = try log.timed("scrub", context.name, detail: "what differs from the source") { try context.scrub() }
                for f in result?.findings ?? [] { if let c = f.component.flatMap(ModelComponent.init(id:)) { damaged.insert(c) } }
            }
            if damaged.isEmpty, let named = finding.component.flatMap(ModelComponent.init(id:)) { damaged.insert(named) }
            // Nothing named it (a shard's output was wrong, or a transient fault left no trace):
            // everything the context holds comes from the source again.
            if damaged.isEmpty { damaged = held }
            let components = held.filter(damaged.contains).sorted { $0.id < $1.id }
            let bytes = components.reduce(0) { $0 + $1.byteSize(in: config) }
            try log.timed("weight_restore", context.name, bytes: bytes,
                          detail: "from the source: \(components.map(\.id).joined(separator: ", "))") { _ = try context.reload(components) }
            if context.takeSabotagedRestore() {
                let record = try context.corrupt(components[0], CorruptionSpec(magnitude: configuration.corruption.magnitude,
                                                                               seed: UInt64(draw() * 1e15)))
                events.record("fault", context: context.name, "the device corrupts again after its restore (simulated bad hardware): \(record.summary)")
            }
            if configuration.integrity.scrubbing {
                let result = try log.timed("scrub", context.name, detail: "the restored weights against the source") { try context.scrub() }
                if let wrong = result?.findings.first { return isolate(context, wrong, log) }
            }
            try log.timed("first_dispatch", context.name, detail: "every shard it holds, checked against the CPU reference") {
                for i in plan.shards.indices where Set(plan.shards[i].components).isSubset(of: context.heldComponents) {
                    do {
                        try verify(shard: i, on: context)
                    } catch let f as CorruptionFinding {
                        throw f
                    } catch PoolError.verificationFailed(let why) {
                        throw CorruptionFinding(detector: .reference, detail: "after the restore, \(why)")
                    }
                }
            }
        } catch let wrong as CorruptionFinding {
            return isolate(context, wrong, log)
        } catch {
            noteFailure(of: context, error)
            log.fail("\(context.name) could not be restored: \(error)")
            return false
        }
        context.transition(to: .ready, "weights restored from the source, scrubbed and verified")
        context.breaker.recordSuccess()
        log.restored.append(context.name)
        return true
    }

    /// Takes a context out of service for good: its weights went wrong again after a restore, so
    /// the fault is in the hardware, not in what was uploaded (DCGM isolates such a GPU).
    func isolate(_ context: BrowserContext, _ finding: CorruptionFinding, _ log: RecoveryLog) -> Bool {
        let why = "silent corruption again after its weights were restored (bad hardware): \(finding)"
        corruption.add(CorruptionDetection(t: events.now, context: context.name, shard: nil, finding: finding))
        corruption.isolate(context.name, why: why)
        context.breaker.isolate()
        context.transition(to: .failed, "isolated: \(why)")
        events.record("isolated", context: context.name, why)
        log.fail("\(context.name) isolated: \(why)")
        return false
    }
}
