import Foundation

/// Requests hold the gate shared; a coordinated recovery takes it exclusively to switch routing
/// with no request in the middle of the model (quiesce). The exclusive wait has a deadline.
final class RequestGate: @unchecked Sendable {  // a pthread rwlock is thread-safe by design
    private var lock = pthread_rwlock_t()

    /// Writer-preferring: once a coordinated switch waits, new requests queue behind it and the
    /// ones in flight drain. glibc's default prefers readers, and under steady load (the
    /// faults-under-load test: 24 clients) the switch then never got in before its deadline.
    /// Nonrecursive: no request takes the gate twice.
    /// The pool's virtual clock, where it runs on one (scripted engines): there a switch that
    /// cannot get in waits its deadline out on that clock, not in real time.
    private let clock: VirtualClock?

    init(clock: VirtualClock? = nil) {
        self.clock = clock
        var attributes = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attributes)
        pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        pthread_rwlock_init(&lock, &attributes)
        pthread_rwlockattr_destroy(&attributes)
    }
    deinit { pthread_rwlock_destroy(&lock) }

    func shared<R>(_ body: () throws -> R) rethrows -> R {
        pthread_rwlock_rdlock(&lock)
        defer { pthread_rwlock_unlock(&lock) }
        return try body()
    }

    /// Runs `body` exclusively, or returns nil if in-flight requests did not drain in time.
    func exclusive<R>(deadline: Duration, _ body: () throws -> R) rethrows -> R? {
        if let clock {
            // On a virtual clock nothing drains while we wait (the pool is driven from one
            // thread): a request still in flight now is one for the whole deadline.
            guard pthread_rwlock_trywrlock(&lock) == 0 else {
                clock.advance(by: deadline.seconds)
                return nil
            }
            defer { pthread_rwlock_unlock(&lock) }
            return try body()
        }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let total = Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9 + deadline.seconds
        var until = timespec(tv_sec: Int(total), tv_nsec: Int((total - total.rounded(.down)) * 1e9))
        guard pthread_rwlock_timedwrlock(&lock, &until) == 0 else { return nil }
        defer { pthread_rwlock_unlock(&lock) }
        return try body()
    }
}
