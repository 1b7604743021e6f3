import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why a connection stopped working, as the pool tells faults apart: the peer hung up (EOF,
/// ECONNRESET: a crash or a dropped connection), a deadline passed (a hang), or the peer broke
/// the protocol.
public enum ConnectionError: Error, Sendable, Equatable, CustomStringConvertible {
    case closed(String)
    case deadline(stage: String, seconds: Double)
    case protocolViolation(ProtocolError)
    case system(stage: String, errno: Int32)
    /// The peer stopped making progress while an answer was awaited (a frozen process): why.
    case stalled(String)

    public var description: String {
        switch self {
        case .closed(let why): return "connection closed: \(why)"
        case let .deadline(stage, seconds): return "\(stage): no answer within \(String(format: "%.3f", seconds)) s"
        case .protocolViolation(let e): return "protocol violation: \(e)"
        case let .system(stage, code): return "\(stage): \(String(cString: strerror(code)))"
        case .stalled(let why): return "the peer stopped making progress: \(why)"
        }
    }
}

/// One end of a stream socket speaking the protocol. Every read and write has a deadline
/// (poll before each system call); a protocol violation closes the connection. One thread may
/// read while another writes (a pool with several requests in flight sends the next while
/// waiting for replies); readers take turns, and so do writers.
public final class Connection: @unchecked Sendable {  // reads under `readLock`, writes under `writeLock`, `fd` under `state`
    private let readLock = NSLock(), writeLock = NSLock(), state = NSLock()
    private var fd: Int32
    private var buffer = Data()
    private var pending: [Data] = []
    private var limit = Frame.maximumPayload

    /// The largest frame this side takes: lowered before a peer has proven who it is, so an
    /// unauthenticated peer cannot make it buffer a large declared frame.
    public var frameLimit: Int {
        get { state.withLock { limit } }
        set { state.withLock { limit = newValue } }
    }

    /// Takes ownership of `fd` (closed by `close()` or deinit).
    public init(fd: Int32) {
        self.fd = fd
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }

    deinit { close() }

    public var isOpen: Bool { state.withLock { fd >= 0 } }

    /// The descriptor, for tests that write raw bytes.
    var rawDescriptorForTests: Int32 { state.withLock { fd } }

    private var descriptor: Int32 { state.withLock { fd } }

    /// Closes the descriptor (the peer sees EOF). A reader or writer inside a call is woken
    /// first (shutdown), and the descriptor is closed only once neither holds it, so no call
    /// ever polls a number the process has since reused.
    public func close() {
        shutDown()
        readLock.withLock { closeHoldingRead() }
    }

    /// With `readLock` held: waits for the writer, then closes.
    private func closeHoldingRead() {
        writeLock.withLock {
            state.withLock {
                if fd >= 0 { _ = Glibc.close(fd) }
                fd = -1
            }
        }
    }

    /// Shuts the socket down in both directions, keeping the descriptor: a lost connection as
    /// the peer sees it (EOF) and as this side does (every later call fails).
    public func shutDown() {
        state.withLock { if fd >= 0 { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) } }
    }

    /// Sends one message within `deadline`. `alive`, asked every `slice` while the peer takes
    /// nothing: a reason from it ends the send as `.stalled` (see `request`).
    public func send(_ message: Message, deadline: Duration, slice: Duration? = nil,
                     alive: (() -> String?)? = nil) throws(ConnectionError) {
        let frame = Frame.encode(message.encoded())
        let until = ContinuousClock.now + deadline
        var result: ConnectionError?
        writeLock.withLock {
            let fd = descriptor
            var offset = 0
            while offset < frame.count {
                let end = slice.map { min(until, .now + $0) } ?? until
                if let e = Self.wait(fd, for: Int16(POLLOUT), until: end, stage: "send", deadline: deadline) {
                    if case .deadline = e, end < until {
                        if let why = alive?() { result = .stalled(why); return }
                        continue
                    }
                    result = e
                    return
                }
                // Never blocking: a blocking send of a frame larger than the socket's buffer would
                // wait for a peer that reads nothing (a stopped process) past any deadline.
                let n = frame.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, frame.count - offset, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
                if n < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    result = errno == EPIPE || errno == ECONNRESET ? .closed("peer gone while sending") : .system(stage: "send", errno: errno)
                    return
                }
                offset += n
            }
        }
        if let result { throw result }
    }

    /// The next message, waiting at most `deadline`. A deadline that passes inside a frame
    /// keeps what was read: the next call goes on from there.
    public func receive(deadline: Duration) throws(ConnectionError) -> Message {
        let until = ContinuousClock.now + deadline
        var outcome: Result<Message, ConnectionError> = .failure(.closed("not read"))
        readLock.withLock {
            let fd = descriptor
            while pending.isEmpty {
                if let e = Self.wait(fd, for: Int16(POLLIN), until: until, stage: "receive", deadline: deadline) { outcome = .failure(e); return }
                var chunk = [UInt8](repeating: 0, count: 65536)
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if n < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    outcome = .failure(errno == ECONNRESET ? .closed("connection reset by peer") : .system(stage: "receive", errno: errno))
                    return
                }
                if n == 0 {
                    let partial = buffer.count
                    outcome = .failure(.closed(partial == 0 ? "end of stream" : "end of stream inside a frame (\(partial) bytes)"))
                    return
                }
                buffer.append(contentsOf: chunk[0..<n])
                do throws(ProtocolError) {
                    pending += try Frame.decode(&buffer, limit: frameLimit)
                } catch {
                    violated()
                    outcome = .failure(.protocolViolation(error))
                    return
                }
            }
            let payload = pending.removeFirst()
            do throws(ProtocolError) {
                outcome = .success(try Message(decoding: payload))
            } catch {
                violated()
                outcome = .failure(.protocolViolation(error))
            }
        }
        return try outcome.get()
    }

    /// A peer that broke the protocol is heard no more (called with `readLock` held).
    private func violated() {
        shutDown()
        closeHoldingRead()
    }

    /// Sends a request and waits for its reply. `alive`: asked every `slice` while the reply
    /// is awaited; a reason from it ends the wait as `.stalled` (a peer that answers nothing
    /// and does nothing is not waited for until a long deadline).
    public func request(_ message: Message, deadline: Duration, slice: Duration? = nil,
                        alive: (() -> String?)? = nil) throws(ConnectionError) -> Message {
        let until = ContinuousClock.now + deadline
        try send(message, deadline: deadline, slice: slice, alive: alive)
        guard let slice, let alive else { return try receive(deadline: max(.zero, until - .now)) }
        while true {
            let left = until - .now
            do throws(ConnectionError) {
                return try receive(deadline: max(.zero, min(slice, left)))
            } catch .deadline {
                if left <= slice { throw .deadline(stage: "receive", seconds: deadline.seconds) }
                if let why = alive() { throw .stalled(why) }
            }
        }
    }

    /// Polls `fd` for `events` until `until`; nil when ready.
    private static func wait(_ fd: Int32, for events: Int16, until: ContinuousClock.Instant, stage: String,
                             deadline: Duration) -> ConnectionError? {
        while true {
            guard fd >= 0 else { return .closed("closed by this side") }
            let left = until - .now
            guard left > .zero else { return .deadline(stage: stage, seconds: deadline.seconds) }
            var p = pollfd(fd: fd, events: events, revents: 0)
            let ms = Int32(min(Double(Int32.max), (left.seconds * 1000).rounded(.up)))
            let r = poll(&p, 1, ms)
            if r < 0 { if errno == EINTR { continue }; return .system(stage: stage, errno: errno) }
            if r == 0 { continue }
            if p.revents & Int16(POLLNVAL) != 0 { return .closed("descriptor closed") }
            return nil  // readable, writable, or hung up (the read or write tells which)
        }
    }
}

// VulkanCompute has the same helper; this target depends on nothing (docs/architecture.md), so it keeps its own.
extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

/// The handshake both sides run first: the pool proves it holds the run's token, the worker
/// answers who it is. A wrong version or token is refused and the connection closed.
public enum Handshake {
    /// The pool's side: hello, then the worker's welcome.
    public static func greet(_ connection: Connection, token: String, deadline: Duration, slice: Duration? = nil,
                             alive: (() -> String?)? = nil) throws(ConnectionError) -> Message {
        let reply = try connection.request(.hello(version: Message.version, token: token), deadline: deadline, slice: slice, alive: alive)
        guard case let .welcome(version, _, _, _, _, _, _, _) = reply else {
            connection.close()
            throw .protocolViolation(.malformed("expected a welcome, got \(reply)"))
        }
        guard version == Message.version else {
            connection.close()
            throw .protocolViolation(.versionMismatch(peer: version, ours: Message.version))
        }
        return reply
    }

    /// The most a hello may be (a version and a 64-character token fit many times over).
    public static let helloLimit = 4096

    /// The worker's side: checks the hello's version and token, then sends `welcome`. Until
    /// then the connection takes no frame past `helloLimit`.
    public static func accept(_ connection: Connection, token: String, welcome: Message, deadline: Duration) throws(ConnectionError) {
        connection.frameLimit = helloLimit
        let hello = try connection.receive(deadline: deadline)
        guard case let .hello(version, presented) = hello else {
            connection.close()
            throw .protocolViolation(.malformed("expected a hello first"))
        }
        guard version == Message.version else {
            connection.close()
            throw .protocolViolation(.versionMismatch(peer: version, ours: Message.version))
        }
        guard constantTimeEqual(presented, token) else {
            connection.close()
            throw .protocolViolation(.badToken)
        }
        connection.frameLimit = Frame.maximumPayload
        try connection.send(welcome, deadline: deadline)
    }

    /// Compares tokens without an early exit (a timing side channel would leak the token).
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var diff = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) { diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
        return diff == 0
    }
}
