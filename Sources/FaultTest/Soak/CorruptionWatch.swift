import Foundation
import ResourcePool
import TransformerGPU

/// The soak's side of silent corruption. A corruption is not recovered when it is injected —
/// nothing is known to be wrong yet — but when a check catches it (a request's checksum or
/// reference check, or the periodic scrub), as a fleet would learn of it. Every catch then gets
/// a recovery; a catch on a context with no injected corruption is a corruption nobody planned
/// (bad hardware), reported as such; an injected corruption still uncaught at the end is a
/// failure of the checks.
final class CorruptionWatch {  // used by the soak's supervisor thread only
    private struct Pending {
        let index: Int
        let context: String
        let struck: Double
        let fault: FaultRecord
    }
    private let pool: Pool
    /// The soak's start on the pool's clock.
    private let origin: Double
    private var pending: [Pending] = []
    private var settledDetections = 0

    init(pool: Pool, soakBegan: ContinuousClock.Instant) {
        self.pool = pool
        origin = pool.events.offset(of: soakBegan)
    }

    /// A planned corruption was injected; `index` is its slot in the soak's fault list.
    func injected(_ fault: FaultRecord, index: Int, struck: Double) {
        let context = String(fault.targets.first?.split(separator: ":").first ?? "")
        pending.append(Pending(index: index, context: context, struck: struck, fault: fault))
    }

    var hasPending: Bool { !pending.isEmpty }

    /// Recovers every context a check has quarantined, and settles the faults that explains:
    /// each planned one whose context was caught, and each catch nobody planned. Returns the
    /// faults to add (unplanned) or replace (planned, by index).
    func settle(strategy: RecoveryStrategyKind) -> [(index: Int?, fault: SoakFault)] {
        let caught = pool.contexts.filter { $0.state == .quarantined }
        guard !caught.isEmpty else { return [] }
        let detections = pool.corruptionDetections
        let fresh = Array(detections[min(settledDetections, detections.count)...])
        settledDetections = detections.count
        let recovery = pool.recover(using: strategy)
        var out: [(index: Int?, fault: SoakFault)] = []
        for context in caught {
            let first = fresh.first { $0.context == context.name }
            if let i = pending.firstIndex(where: { $0.context == context.name }) {
                let p = pending.remove(at: i)
                let detected = first.map { $0.t - origin - p.struck }
                out.append((p.index, SoakFault(kind: FaultKind.silentCorruption.rawValue, targets: p.fault.targets, planned: true,
                                               struck: p.struck, detectionSeconds: detected.map { max(0, $0) },
                                               recoverySeconds: recovery.duration, recovered: recovery.success,
                                               message: "caught by the \(first?.detector.rawValue ?? "?") check; \(recovery.message)")))
            } else {
                out.append((nil, SoakFault(kind: FaultKind.silentCorruption.rawValue, targets: [context.name], planned: false,
                                           struck: (first?.t ?? pool.events.now) - origin, detectionSeconds: nil,
                                           recoverySeconds: recovery.duration, recovered: recovery.success,
                                           message: "a corruption nobody injected (\(first.map { "\($0.finding)" } ?? "quarantined")); \(recovery.message)")))
            }
        }
        return out
    }

    /// At the end: a last scrub for what no check met, then the corruptions still uncaught.
    func finish(strategy: RecoveryStrategyKind) -> [(index: Int?, fault: SoakFault)] {
        guard hasPending else { return [] }
        pool.scrub()
        var out = settle(strategy: strategy)
        for p in pending {
            // A transient one is gone once read: uncaught, it changed no answer the reference saw
            // (a changed one counts as a wrong answer served); not a fault left unrecovered.
            let transient = p.fault.corruption?.persistence == .transient
            out.append((p.index, SoakFault(kind: FaultKind.silentCorruption.rawValue, targets: p.fault.targets, planned: true, struck: p.struck,
                                           detectionSeconds: nil, recoverySeconds: 0, recovered: transient,
                                           message: (transient ? "transient, never caught: gone after the one dispatch that read it" : "never caught by any check")
                                               + " (\(p.fault.corruption?.summary ?? "injected"))")))
        }
        pending = []
        return out
    }
}
