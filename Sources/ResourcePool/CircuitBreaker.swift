import Foundation

/// Per-context circuit breaker: after `threshold` consecutive failures it opens and the pool
/// routes nothing to the context; after `cooldown` it lets one probe through (half-open); a
/// success closes it, a failure opens it again.
public final class CircuitBreaker: @unchecked Sendable {  // guarded by `lock`
    public enum State: String, Sendable, Codable { case closed, open, halfOpen = "half_open", isolated }

    public let threshold: Int
    public let cooldown: Double
    private let lock = NSLock()
    private var failures = 0
    private var openedAt: Double?
    private var current: State = .closed
    private let clock: @Sendable () -> Double

    public init(threshold: Int = 3, cooldown: Double = 0.25, clock: @escaping @Sendable () -> Double) {
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
    }

    public var state: State {
        lock.withLock {
            if current == .open, let openedAt, clock() - openedAt >= cooldown { current = .halfOpen }
            return current
        }
    }

    /// True while requests or rebuild attempts may go to the context.
    public var allows: Bool { state != .open && state != .isolated }

    /// Opens for good: nothing closes it again (a context isolated as bad hardware).
    public func isolate() { lock.withLock { current = .isolated } }

    public var consecutiveFailures: Int { lock.withLock { failures } }

    /// Returns true when this failure opened the breaker.
    @discardableResult
    public func recordFailure() -> Bool {
        lock.withLock {
            guard current != .isolated else { return false }
            failures += 1
            if current == .halfOpen || failures >= threshold {
                let opened = current != .open
                current = .open
                openedAt = clock()
                return opened
            }
            return false
        }
    }

    public func recordSuccess() {
        lock.withLock {
            guard current != .isolated else { return }
            failures = 0
            current = .closed
            openedAt = nil
        }
    }
}

/// Bounded retries with exponential backoff and seeded jitter. The sleeps are real waiting
/// between real attempts (a restarting browser needs time), never a stand-in for work.
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    public var baseDelay: Double
    public var multiplier: Double
    /// Fraction of the delay drawn at random (seeded) and added, so retries of several contexts
    /// do not fall in step.
    public var jitter: Double

    public init(maxAttempts: Int = 3, baseDelay: Double = 0.005, multiplier: Double = 2, jitter: Double = 0.5) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// The delay before attempt `attempt` (1-based; attempt 1 has none).
    public func delay(before attempt: Int, random unit: Double) -> Double {
        guard attempt > 1 else { return 0 }
        let base = baseDelay * pow(multiplier, Double(attempt - 2))
        return base * (1 + jitter * unit)
    }
}
