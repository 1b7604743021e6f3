import Foundation
import Transformer
import TransformerGPU

/// Which context a fault hits.
public enum FaultTarget: Sendable, Equatable {
    /// A context (or, for a browser crash, a browser) by name.
    case named(String)
    /// A webgpu context by position in the browser list.
    case index(Int)
    /// Drawn from the pool's seeded generator; the record keeps the seed.
    case drawn
}

/// Makes faults for real (README's table of phases). Process isolation: a browser crash is SIGKILL of
/// the browser's process; a connection loss shuts the pool's socket to a context down; a
/// component failure asks the live process to release one component's buffers (a deliberate
/// teardown, still); gpu_hang starts a dispatch that never finishes. Thread isolation: each is a
/// deliberate teardown of our own objects (command pool and fence; weight buffers; every
/// VkDevice of the browser), labelled `simulated`. multiple_failures combines two different
/// faults on two different browsers, drawn with the pool's seed. silent_corruption XORs seeded
/// bits into a block of one component's weights in the context's device memory (in its
/// browser's process, or this one), never in the host copy the CPU reference reads.
public enum FaultInjector {
    public static func inject(_ kind: FaultKind, into pool: Pool, target: FaultTarget = .drawn,
                              component: ModelComponent? = nil) throws -> FaultRecord {
        if let why = pool.configuration.refusal(toHost: kind, target: target) { throw PoolError.unknownTarget(why) }
        let record: FaultRecord
        switch kind {
        case .multipleFailures:
            record = try multiple(pool, target: target)
        default:
            let context = try resolve(target, in: pool)
            record = try single(kind, on: context, in: pool, component: component,
                                seed: target == .drawn ? pool.configuration.seed : nil)
        }
        // One event per context hit, on that context (timelines and traces draw it there).
        let parts = record.parts.isEmpty ? [record] : record.parts
        for part in parts {
            for target in part.targets {
                let context = String(target.split(separator: ":")[0])
                pool.events.record("fault", context: context, "\(part.kind.rawValue) on \(target) (\(part.simulated ? "simulated" : part.mechanism ?? "real"))")
            }
        }
        return record
    }

    /// The fault record with when the pool first noticed each part, and how struck processes
    /// ended (call after the pool has used or recovered the contexts).
    public static func observed(_ record: FaultRecord, in pool: Pool) -> FaultRecord {
        // cascading_failure's second part exists once recovery struck it.
        let record = record.kind == .cascadingFailure && record.parts.count == 1
            ? .cascading(first: record.parts[0], second: pool.cascade.struck, seed: record.seed ?? pool.configuration.seed) : record
        func settle(_ part: FaultRecord) -> FaultRecord {
            var part = part
            let hit = Set(part.targets.map { String($0.split(separator: ":")[0]) })
            if let start = part.start, let noticed = pool.events.firstLoss(on: hit, atOrAfter: start) {
                part.detectionSeconds = noticed - start
            }
            if part.kind.needsProcess, let start = part.start, let context = hit.first,
               let browser = pool.context(named: context)?.browser {
                part.watchdogSeconds = pool.hosts[browser]?.watchdogWait(atOrAfter: start)
            }
            if let pids = part.pids {
                let endings = pool.hosts.values.flatMap(\.allProcesses).filter { pids.contains($0.pid) }
                    .compactMap { p in p.endingOnceKilled(within: .seconds(10)).map { "pid \(p.pid) \($0)" } }
                if !endings.isEmpty { part.exitStatus = endings }
            }
            return part
        }
        var whole = settle(record)
        if !record.parts.isEmpty {
            let parts = record.parts.map(settle)
            whole = FaultRecord(kind: record.kind, targets: record.targets, simulated: record.simulated, seed: record.seed,
                                teardown: record.teardown, parts: parts, mechanism: record.mechanism, pids: record.pids,
                                start: record.start, detectionSeconds: parts.compactMap(\.detectionSeconds).min(),
                                exitStatus: parts.compactMap(\.exitStatus).flatMap { $0 })
            whole.requestsInFlight = record.requestsInFlight
        }
        return whole
    }

    /// The webgpu contexts a fault may hit.
    static func candidates(_ pool: Pool) -> [BrowserContext] {
        pool.contexts.filter { $0.backend == .webgpu && $0.isUp }
    }

    static func resolve(_ target: FaultTarget, in pool: Pool) throws -> BrowserContext {
        let choices = candidates(pool)
        guard !choices.isEmpty else { throw PoolError.unknownTarget("no live webgpu context to fault") }
        switch target {
        case .named(let name):
            guard let c = pool.contexts.first(where: { $0.name == name || $0.browser == name }), c.backend == .webgpu else {
                throw PoolError.unknownTarget("'\(name)': the webgpu contexts are \(choices.map(\.name).joined(separator: ", "))")
            }
            return c
        case .index(let i):
            guard choices.indices.contains(i) else {
                throw PoolError.unknownTarget("index \(i): there are \(choices.count) webgpu contexts")
            }
            return choices[i]
        case .drawn:
            return choices[min(choices.count - 1, Int(pool.draw() * Double(choices.count)))]
        }
    }

    static func single(_ kind: FaultKind, on context: BrowserContext, in pool: Pool, component: ModelComponent?,
                       seed: UInt64?) throws -> FaultRecord {
        let real = context.host != nil
        let start = pool.events.now
        func record(_ targets: [String], _ teardown: [String], simulated: Bool, mechanism: String, pids: [Int32]?) -> FaultRecord {
            FaultRecord(kind: kind, targets: targets, simulated: simulated, seed: seed, teardown: teardown, parts: [],
                        mechanism: mechanism, pids: pids, start: start)
        }
        let pid = context.pid.map { [$0] }
        switch kind {
        case .connectionLost:
            return record([context.name], [context.dropConnection()], simulated: !real,
                          mechanism: real ? "socket shutdown (SHUT_RDWR) by the pool" : "vkDestroyCommandPool and vkDestroyFence", pids: real ? pid : nil)
        case .componentFailure:
            let held = pool.placement.shards(on: context.name).flatMap { pool.plan.shards[$0].components }
            guard let victim = component ?? (held.isEmpty ? nil : held[min(held.count - 1, Int(pool.draw() * Double(held.count)))]) else {
                throw PoolError.unknownTarget("\(context.name) holds no component")
            }
            // Still a deliberate teardown in process isolation: the live process releases the
            // buffers on a fault-control request that is not part of serving.
            return record(["\(context.name):\(victim.id)"], [context.failComponent(victim)], simulated: true,
                          mechanism: real ? "fault-control request: the process releases the buffers" : "buffers released in process",
                          pids: real ? pid : nil)
        case .browserCrash:
            let siblings = pool.contexts.filter { $0.browser == context.browser && $0.backend == .webgpu }
            let pids = Array(Set(siblings.compactMap(\.pid))).sorted()
            var made = record(siblings.map(\.name), siblings.map { $0.crash() }, simulated: !real,
                              mechanism: real ? "SIGKILL" : "vkDestroyDevice", pids: real ? pids : nil)
            if real { made.requestsInFlight = siblings.compactMap(\.requestsCaughtByKill).reduce(0, +) }
            return made
        case .browserFreeze:
            let siblings = pool.contexts.filter { $0.browser == context.browser && $0.backend == .webgpu }
            let pids = Array(Set(siblings.compactMap(\.pid))).sorted()
            return record(siblings.map(\.name), [try context.freeze()], simulated: false,
                          mechanism: "SIGSTOP (alive, answering nothing; found by the \(String(format: "%.3g", pool.configuration.watchdog.seconds)) s watchdog)",
                          pids: pids)
        case .gpuHang:
            return record([context.name], [try context.hang()], simulated: false,
                          mechanism: "hung dispatch (detected by the \(String(format: "%.3g", pool.configuration.watchdog.seconds)) s watchdog)", pids: pid)
        case .multipleFailures:
            return try multiple(pool, target: .drawn)
        case .cascadingFailure:
            let first = try single(.browserCrash, on: context, in: pool, component: nil, seed: nil)
            pool.cascade.arm(after: first.targets)
            return .cascading(first: first, second: nil, seed: seed ?? pool.configuration.seed)
        case .silentCorruption:
            let held = pool.placement.shards(on: context.name).flatMap { pool.plan.shards[$0].components }
            guard let victim = component ?? (held.isEmpty ? nil : held[min(held.count - 1, Int(pool.draw() * Double(held.count)))]) else {
                throw PoolError.unknownTarget("\(context.name) holds no component")
            }
            var spec = pool.configuration.corruption
            spec.seed = UInt64(pool.draw() * 0x1p52)
            let written = try context.corrupt(victim, spec)
            if pool.configuration.keepCorrupting > 0 { context.sabotage(restores: pool.configuration.keepCorrupting) }
            var made = record(["\(context.name):\(victim.id)"], [written.summary], simulated: false,
                              mechanism: real ? "fault-control request: the browser process wrote wrong bits into device memory"
                                              : "wrong bits written into device memory in process", pids: real ? pid : nil)
            made.corruption = written
            return made
        }
    }

    /// Two different faults on two different browsers, drawn with the pool's seed (the same
    /// seed always gives the same pair).
    static func multiple(_ pool: Pool, target: FaultTarget) throws -> FaultRecord {
        var browsers: [BrowserContext] = []
        for c in candidates(pool) where !browsers.contains(where: { $0.browser == c.browser }) { browsers.append(c) }
        guard browsers.count >= 2 else {
            throw PoolError.unknownTarget("multiple_failures needs two webgpu browsers; the pool has \(browsers.count)")
        }
        var kinds: [FaultKind] = [.connectionLost, .componentFailure, .browserCrash]
        let firstKind = kinds.remove(at: min(2, Int(pool.draw() * 3)))
        let secondKind = kinds[min(1, Int(pool.draw() * 2))]
        let first: BrowserContext
        if case .drawn = target {
            first = browsers.remove(at: min(browsers.count - 1, Int(pool.draw() * Double(browsers.count))))
        } else {
            let named = try resolve(target, in: pool)
            first = named
            browsers.removeAll { $0.browser == named.browser }
        }
        let second = browsers[min(browsers.count - 1, Int(pool.draw() * Double(browsers.count)))]
        let parts = [try single(firstKind, on: first, in: pool, component: nil, seed: nil),
                     try single(secondKind, on: second, in: pool, component: nil, seed: nil)]
        return FaultRecord(kind: .multipleFailures, targets: parts.flatMap(\.targets), simulated: parts.allSatisfy(\.simulated),
                           seed: pool.configuration.seed, teardown: parts.flatMap(\.teardown), parts: parts,
                           mechanism: parts.compactMap(\.mechanism).joined(separator: " + "), pids: parts.compactMap(\.pids).flatMap { $0 },
                           start: parts.compactMap(\.start).min())
    }

    /// Makes every context a fault hit keep crashing on its next `count` starts, right after its
    /// devices exist: a browser that keeps crashing, to exercise restart budgets and circuit
    /// breakers (in process isolation the new process really kills itself; in thread isolation
    /// the new device is destroyed).
    public static func keepCrashing(_ fault: FaultRecord, in pool: Pool, times count: Int) {
        guard count > 0 else { return }
        let hit = Set(fault.targets.map { String($0.split(separator: ":")[0]) })
        for context in pool.contexts where hit.contains(context.name) { keepCrashing(context, times: count) }
    }

    public static func keepCrashing(_ context: BrowserContext, times count: Int) {
        context.sabotage(rebuilds: count)
        context.log.record("fault", context: context.name, "will crash on its next \(count) starts (simulated)")
    }
}
