import BrowserProtocol
import Foundation

/// The requests a connection has sent and the browser has not yet run, oldest first. The
/// connection's reader puts them in as they arrive, the serving thread takes them in order.
/// Bounded: a full queue stops the reader, so a pool that sends more than it agreed to waits
/// in its socket instead of growing this process.
final class RequestQueue: @unchecked Sendable {  // state under `condition`
    private let condition = NSCondition()
    private var items: [Message] = []
    private var closed = false
    let capacity: Int

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Waits for room, then adds `request`. False once the queue is closed.
    func put(_ request: Message) -> Bool {
        condition.withLock {
            while items.count >= capacity, !closed { condition.wait() }
            guard !closed else { return false }
            items.append(request)
            condition.broadcast()
            return true
        }
    }

    /// The oldest request, waiting for one; nil once the queue is closed and empty.
    func take() -> Message? {
        condition.withLock {
            while items.isEmpty, !closed { condition.wait() }
            guard !items.isEmpty else { return nil }
            condition.broadcast()
            return items.removeFirst()
        }
    }

    /// No more requests: the reader saw the connection end (what was queued is still served).
    func close() {
        condition.withLock {
            closed = true
            condition.broadcast()
        }
    }
}
