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
    /// Given up on: its restart budget is spent or its circuit breaker is open.
    case failed
}

/// One thing that happened in the pool, stamped with a monotonic clock.
public struct PoolEvent: Sendable, Codable {
    /// Seconds since the pool started (monotonic, never wall-clock).
    public let t: Double
    public let context: String?
    public let kind: String
    public let detail: String

    public init(t: Double, context: String?, kind: String, detail: String) {
        self.t = t; self.context = context; self.kind = kind; self.detail = detail
    }
}

/// The pool's event log: every state transition, fault, failover and recovery step.
public final class EventLog: @unchecked Sendable {  // guarded by `lock`
    private let lock = NSLock()
    private let start = ContinuousClock.now
    private var stored: [PoolEvent] = []

    public init() {}

    /// Seconds since the log (the pool) started.
    public var now: Double { (ContinuousClock.now - start).seconds }

    @discardableResult
    public func record(_ kind: String, context: String? = nil, _ detail: String = "") -> PoolEvent {
        let event = PoolEvent(t: now, context: context, kind: kind, detail: detail)
        lock.withLock { stored.append(event) }
        return event
    }

    public var events: [PoolEvent] { lock.withLock { stored } }
}
