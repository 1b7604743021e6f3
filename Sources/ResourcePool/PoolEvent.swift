import Foundation
import VulkanCompute

/// A context's health.
public enum ContextState: String, Sendable, Codable, CaseIterable {
    /// Serving.
    case ready
    /// Its channel (queue, command pool, fence) is gone; the device and weights remain.
    case disconnected
    /// Its device is destroyed; everything on it is gone.
    case crashed
    /// A recovery strategy is rebuilding or reconnecting it.
    case recovering
    /// Given up on: its restart budget is spent or its circuit breaker is open, or isolated
    /// (its weights went wrong again after a restore: bad hardware).
    case failed
    /// Caught serving wrong answers or holding wrong weights (silent data corruption): no
    /// requests until its weights are restored from the source, scrubbed and verified.
    case quarantined
}

/// One thing that happened in the pool, stamped with a monotonic clock.
public struct PoolEvent: Sendable, Codable {
    /// Seconds since the run started (monotonic, never wall-clock; before schema 1.2, since the
    /// pool started).
    public let t: Double
    public let context: String?
    public let kind: String
    public let detail: String

    public init(t: Double, context: String?, kind: String, detail: String) {
        self.t = t; self.context = context; self.kind = kind; self.detail = detail
    }
}

/// Something that took time on a track (a context, or the pool): a shard run, a weight upload,
/// a step of initialize. For timelines and traces; not part of the JSON report.
public struct PoolSpan: Sendable {
    public let name: String
    /// shard_run, upload, initialize.
    public let category: String
    /// The context it ran on; nil for the pool itself.
    public let context: String?
    /// Seconds since the run started.
    public let start: Double
    public let duration: Double
    public let args: [String: String]
}

/// A sampled value over time (requests in flight, bytes uploaded so far).
public struct PoolCounter: Sendable {
    public let name: String
    public let t: Double
    public let value: Double
}

/// The pool's event log: every state transition, fault, failover and recovery step, plus the
/// spans and counters a timeline draws. One monotonic clock from `origin` (the run's start).
public final class EventLog: @unchecked Sendable {  // guarded by `lock`
    private let lock = NSLock()
    public let origin: ContinuousClock.Instant
    private var stored: [PoolEvent] = []
    private var storedSpans: [PoolSpan] = []
    private var storedCounters: [PoolCounter] = []
    private var inFlight = 0
    private var uploaded = 0
    /// Every loss that was news: when, and on which context (the fault records' detection times).
    private var losses: [(t: Double, context: String)] = []

    /// Spans and counter samples are recorded per request: bounded, so a long-lived pool under
    /// load cannot grow without end (a scenario records a few hundred).
    static let viewLimit = 100_000

    /// A virtual clock, where the pool runs on one (scripted engines): `now` and `wait` are its.
    let virtual: VirtualClock?

    public init(origin: ContinuousClock.Instant = .now) { self.origin = origin; virtual = nil }

    init(virtual: VirtualClock) { origin = .now; self.virtual = virtual }

    /// Seconds since the run started.
    public var now: Double { virtual?.now ?? offset(of: .now) }

    /// Waits `seconds` on the pool's clock: a real pause (a retry backoff between real rebuild
    /// attempts), or, on a virtual clock, time moved on.
    func wait(_ seconds: Double) {
        if let virtual { virtual.advance(by: seconds) } else { Thread.sleep(forTimeInterval: seconds) }
    }

    /// `instant` in seconds since the run started.
    public func offset(of instant: ContinuousClock.Instant) -> Double { (instant - origin).seconds }

    public func span(_ name: String, category: String, context: String?, start: Double?, duration: Double, args: [String: String] = [:]) {
        let span = PoolSpan(name: name, category: category, context: context, start: start ?? (now - duration), duration: duration, args: args)
        lock.withLock { if storedSpans.count < Self.viewLimit { storedSpans.append(span) } }
    }

    /// A request entered (+1) or left (-1) the pool: the requests-in-flight counter.
    func requestsInFlight(_ change: Int) {
        sample("requests_in_flight") { inFlight += change; return inFlight }
    }

    /// Weights uploaded: the bytes-uploaded counter (cumulative over the pool's life).
    func addUploaded(_ bytes: Int) {
        sample("bytes_uploaded") { uploaded += bytes; return uploaded }
    }

    /// A loss that was news (see `BrowserContext.recordLoss`): counted where it is decided, so a
    /// recovery that sees its effect (a context crashed) also sees the count.
    func countLoss(on context: String) {
        let t = now
        lock.withLock { losses.append((t, context)) }
    }
    /// Losses that were news so far.
    var lossesNoticed: Int { lock.withLock { losses.count } }
    /// When the first loss that was news on one of `contexts` was decided, at or after `t`.
    func firstLoss(on contexts: Set<String>, atOrAfter t: Double) -> Double? {
        lock.withLock { losses.first { $0.t >= t && contexts.contains($0.context) }?.t }
    }

    /// Updates a counter under the lock and records its new value (bounded).
    private func sample(_ name: String, _ update: () -> Int) {
        let t = now
        lock.withLock {
            let value = update()
            if storedCounters.count < Self.viewLimit { storedCounters.append(PoolCounter(name: name, t: t, value: Double(value))) }
        }
    }

    public var spans: [PoolSpan] { lock.withLock { storedSpans } }
    public var counters: [PoolCounter] { lock.withLock { storedCounters } }

    @discardableResult
    public func record(_ kind: String, context: String? = nil, _ detail: String = "") -> PoolEvent {
        let event = PoolEvent(t: now, context: context, kind: kind, detail: detail)
        lock.withLock { stored.append(event) }
        return event
    }

    public var events: [PoolEvent] { lock.withLock { stored } }
}
