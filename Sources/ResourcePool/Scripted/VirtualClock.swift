import Foundation

/// Time that passes only when told: a pool on it (the schedule simulator) waits out a retry
/// backoff or a breaker's cooldown in no real time, and the same seed always sees the same times.
public final class VirtualClock: @unchecked Sendable {  // `seconds` under `lock`
    private let lock = NSLock()
    private var seconds = 0.0

    public init() {}

    /// Seconds since the clock began.
    public var now: Double { lock.withLock { seconds } }

    public func advance(by delta: Double) {
        guard delta > 0 else { return }
        lock.withLock { seconds += delta }
    }
}
