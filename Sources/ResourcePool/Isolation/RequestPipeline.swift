import BrowserProtocol
import Foundation

/// Several requests in flight on one connection to a browser process, as a GPU process serves
/// many clients' work at once: each is sent when the window has room, and its reply, matched
/// by id, wakes its caller. The browser runs a connection's requests in the order they were
/// sent and answers each in turn, so the oldest unanswered request is the one running: its
/// deadline counts from when it was sent or the previous reply came, whichever is later, and
/// no request is blamed for the time it waited behind others.
///
/// Whoever waits reads for everyone (one reader at a time); the first failure — a broken
/// connection, a missed deadline, a frozen peer — ends the pipeline, is turned into the
/// pool's error once (`onFailure`: the watchdog's kill happens there), and every request in
/// flight gets that error.
final class RequestPipeline: @unchecked Sendable {  // state under `condition`
    /// One request: how long it may take once it runs, and whether missing that is a hang.
    struct Ticket {
        let id: UInt64
        let sent: ContinuousClock.Instant
        let deadline: Duration
        /// A missed deadline is a hang (the watchdog); else the peer is watched for progress.
        let watched: Bool
    }

    /// What the first failure was, for `onFailure`: the error, the request that was running or
    /// being sent (nil for a reply to no request), and how long it had run.
    typealias FailureHandler = (ConnectionError, Ticket?, _ waited: Duration) -> any Error

    let connection: Connection
    let window: Int
    private let slice: Duration
    private let watcher: () -> (() -> String?)
    /// The running request's watcher: a fresh one for each request that runs (an idle process
    /// between requests is not frozen).
    private var watching: (id: UInt64, alive: () -> String?)?
    private let onFailure: FailureHandler
    private let condition = NSCondition()
    private let sendLock = NSLock()
    private var order: [Ticket] = []
    private var replies: [UInt64: Message] = [:]
    private var failure: (any Error)?
    private var failing = false
    private var reading = false
    private var lastReply = ContinuousClock.now

    /// `window`: requests in flight at most; `slice`: how often a long wait asks a watcher
    /// made by `watcher` whether the process lives (a reason ends the pipeline: frozen).
    init(connection: Connection, window: Int, slice: Duration, watcher: @escaping () -> (() -> String?),
         onFailure: @escaping FailureHandler) {
        self.connection = connection
        self.window = max(1, window)
        self.slice = slice
        self.watcher = watcher
        self.onFailure = onFailure
    }

    /// Requests sent and not yet answered.
    var inFlight: Int { condition.withLock { order.count } }

    /// Runs `body` while no reply can be taken in, with the number of requests unanswered:
    /// what a kill in `body` catches inside the process.
    func holdingReplies<T>(_ body: (Int) -> T) -> T { condition.withLock { body(order.count) } }

    /// Sends `message` (id `id`) when the window has room and waits for its reply.
    func request(_ message: Message, id: UInt64, deadline: Duration, watched: Bool) throws -> Message {
        try sendLock.withLock {
            let ticket = try condition.withLock {
                while order.count >= window, failure == nil { condition.wait() }
                if let failure { throw failure }
                let ticket = Ticket(id: id, sent: .now, deadline: deadline, watched: watched)
                order.append(ticket)
                return ticket
            }
            do throws(ConnectionError) {
                try connection.send(message, deadline: deadline, slice: watched ? nil : slice, alive: watched ? nil : watcher())
            } catch {
                fail(error, ticket: ticket, waited: .now - ticket.sent)
            }
        }
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let reply = replies.removeValue(forKey: id) { return reply }
            if let failure { throw failure }
            if reading || failing {  // failing: the first failure is being turned into the pool's error
                condition.wait()
                continue
            }
            reading = true
            condition.unlock()
            readOnce()
            condition.lock()
            reading = false
            condition.broadcast()
        }
    }

    /// Reads one reply (or one slice of waiting) for whichever request is running.
    private func readOnce() {
        let head: (ticket: Ticket, since: ContinuousClock.Instant)? = condition.withLock {
            order.first.map { ($0, max($0.sent, lastReply)) }
        }
        guard let (ticket, since) = head else { return }
        let left = since + ticket.deadline - .now
        let wait = ticket.watched ? left : min(left, slice)
        do throws(ConnectionError) {
            let reply = try connection.receive(deadline: max(.zero, wait))
            let matched = condition.withLock { () -> Bool in
                guard let index = order.firstIndex(where: { $0.id == reply.requestID }) else { return false }
                order.remove(at: index)
                replies[reply.requestID] = reply
                lastReply = .now
                condition.broadcast()
                return true
            }
            if !matched { fail(.protocolViolation(.malformed("a reply to no request in flight: \(reply)")), ticket: nil, waited: .zero) }
        } catch .deadline(let stage, _) {
            if wait >= left {
                fail(.deadline(stage: stage, seconds: ticket.deadline.seconds), ticket: ticket, waited: .now - since)
            } else if let why = alive(for: ticket) {
                fail(.stalled(why), ticket: ticket, waited: .now - since)
            }
        } catch {
            fail(error, ticket: ticket, waited: .now - since)
        }
    }

    /// The running request's watcher (only the reader calls this).
    private func alive(for ticket: Ticket) -> String? {
        if watching?.id != ticket.id { watching = (ticket.id, watcher()) }
        return watching?.alive()
    }

    /// Ends the pipeline on its first failure; later ones change nothing. `onFailure` runs
    /// outside the lock (a watchdog kill waits for the process to end).
    private func fail(_ error: ConnectionError, ticket: Ticket?, waited: Duration) {
        let first = condition.withLock { () -> Bool in
            defer { failing = true }
            return !failing
        }
        guard first else { return }
        let outcome = onFailure(error, ticket, waited)
        condition.withLock {
            failure = outcome
            condition.broadcast()
        }
    }
}

extension Message {
    /// The id a reply echoes (0 for messages that are not replies).
    var requestID: UInt64 {
        switch self {
        case let .ok(id, _, _), let .ran(id, _), let .failed(id, _, _), let .note(id, _), let .scrubbed(id, _, _, _), let .alive(id, _):
            return id
        default: return 0
        }
    }
}
