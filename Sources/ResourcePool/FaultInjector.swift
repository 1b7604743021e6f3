import Foundation
import Transformer

/// Which context a fault hits.
public enum FaultTarget: Sendable, Equatable {
    /// A context (or, for a browser crash, a browser) by name.
    case named(String)
    /// A webgpu context by position in the browser list.
    case index(Int)
    /// Drawn from the pool's seeded generator; the record keeps the seed.
    case drawn
}

/// Tears real objects down (DESIGN.md): a connection loss destroys a context's command pool and
/// fence; a component failure releases one component's weight buffers and recorded batches; a
/// browser crash destroys the VkDevice of every context of that browser; multiple failures
/// combine two different faults on two different browsers, drawn with the pool's seed.
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
                pool.events.record("fault", context: context, "\(part.kind.rawValue) on \(target) (simulated)")
            }
        }
        return record
    }

    /// The webgpu contexts a fault may hit.
    static func candidates(_ pool: Pool) -> [BrowserContext] {
        pool.contexts.filter { $0.backend == .webgpu && $0.device != nil }
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
        switch kind {
        case .connectionLost:
            return FaultRecord(kind: kind, targets: [context.name], simulated: true, seed: seed,
                               teardown: [context.dropConnection()], parts: [])
        case .componentFailure:
            let held = pool.placement.shards(on: context.name).flatMap { pool.plan.shards[$0].components }
            guard let victim = component ?? (held.isEmpty ? nil : held[min(held.count - 1, Int(pool.draw() * Double(held.count)))]) else {
                throw PoolError.unknownTarget("\(context.name) holds no component")
            }
            return FaultRecord(kind: kind, targets: ["\(context.name):\(victim.id)"], simulated: true, seed: seed,
                               teardown: [context.failComponent(victim)], parts: [])
        case .browserCrash:
            let siblings = pool.contexts.filter { $0.browser == context.browser && $0.backend == .webgpu }
            return FaultRecord(kind: kind, targets: siblings.map(\.name), simulated: true, seed: seed,
                               teardown: siblings.map { $0.crash() }, parts: [])
        case .multipleFailures:
            return try multiple(pool, target: .drawn)
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
        return FaultRecord(kind: .multipleFailures, targets: parts.flatMap(\.targets), simulated: true,
                           seed: pool.configuration.seed, teardown: parts.flatMap(\.teardown), parts: parts)
    }

    /// Makes a context's next `count` starts fail right after device creation: a browser that
    /// keeps crashing, to exercise restart budgets and circuit breakers. Simulated, like all faults.
    /// Makes every context a fault hit keep crashing on its next `count` starts.
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
