import Foundation
import Testing
@testable import BrowserProtocol

/// Connections over a real socket pair: the handshake refuses a wrong token, every read has a
/// deadline, a hang-up is told apart from a hang, and garbage closes the connection with a
/// typed error instead of crashing or hanging either side.
@Suite struct ConnectionTests {
    static func pair() throws -> (Connection, Connection) {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        return (Connection(fd: fds[0]), Connection(fd: fds[1]))
    }

    static let welcome = Message.welcome(version: Message.version, pid: getpid(), context: "chrome", device: "llvmpipe", deviceIdentity: "u",
                                        deviceSerial: 1, startup: [], compute: "")

    // Test that the right token gets a welcome and requests then flow both ways.
    @Test func theHandshakeAndARequest() throws {
        let (pool, worker) = try Self.pair()
        let serving = Thread {
            try? Handshake.accept(worker, token: "secret", welcome: Self.welcome, deadline: .seconds(5))
            if case let .heartbeat(id, _)? = try? worker.receive(deadline: .seconds(5)) {
                try? worker.send(.ok(id: id, bytes: 0, seconds: 0), deadline: .seconds(5))
            }
        }
        serving.start()
        let welcome = try Handshake.greet(pool, token: "secret", deadline: .seconds(5))
        #expect(welcome == Self.welcome)
        #expect(try pool.request(.heartbeat(id: 9, deadlineMicros: 1000), deadline: .seconds(5)) == .ok(id: 9, bytes: 0, seconds: 0))
    }

    // Test that a peer without the token is refused and its connection closed.
    @Test func aWrongTokenIsRefused() throws {
        let (pool, worker) = try Self.pair()
        try pool.send(.hello(version: Message.version, token: "guess"), deadline: .seconds(5))
        #expect(throws: ConnectionError.protocolViolation(.badToken)) {
            try Handshake.accept(worker, token: "secret", welcome: Self.welcome, deadline: .seconds(5))
        }
        #expect(!worker.isOpen)
        #expect(throws: ConnectionError.self) { _ = try pool.receive(deadline: .seconds(5)) }  // EOF, not a hang
    }

    // Test that a silent peer gives a deadline error on time, and a closed one an EOF at once.
    @Test func aHangIsADeadlineAndAHangUpIsClosed() throws {
        let (pool, worker) = try Self.pair()
        let start = ContinuousClock.now
        #expect(throws: ConnectionError.deadline(stage: "receive", seconds: 0.2)) { _ = try pool.receive(deadline: .milliseconds(200)) }
        #expect(ContinuousClock.now - start >= .milliseconds(200))
        worker.close()
        do {
            _ = try pool.receive(deadline: .seconds(30))
            Issue.record("a closed peer answered")
        } catch {
            guard case .closed = error else { Issue.record("expected closed, got \(error)"); return }
        }
    }

    // Test that sending a frame far larger than the socket's buffer to a peer that reads nothing
    // (a stopped process) ends at the deadline: a blocking write would wait for ever.
    @Test func aLargeSendToAPeerThatReadsNothingEndsAtItsDeadline() throws {
        let (pool, peer) = try Self.pair()
        let outcome = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var error: ConnectionError?
        let sender = Thread {
            do throws(ConnectionError) {
                try pool.send(.note(id: 1, text: String(repeating: "x", count: 8 << 20)), deadline: .milliseconds(200))
            } catch let e { error = e }
            outcome.signal()
        }
        sender.start()
        if outcome.wait(timeout: .now() + 60) == .timedOut {
            Issue.record("the send outlived its 0.2 s deadline by a minute")
            peer.close()  // frees the sender
            outcome.wait()
        }
        #expect(error == .deadline(stage: "send", seconds: 0.2), "\(String(describing: error))")
        // Watched, the same send ends as soon as the watcher says the peer is frozen.
        let (pool2, peer2) = try Self.pair()
        defer { withExtendedLifetime(peer2) {} }
        #expect(throws: ConnectionError.stalled("frozen")) {
            try pool2.send(.note(id: 1, text: String(repeating: "x", count: 8 << 20)), deadline: .seconds(3600), slice: .milliseconds(10)) { "frozen" }
        }
    }

    // Test that a shut-down connection fails both ways at once (a lost connection).
    @Test func aShutDownConnectionFailsAtOnce() throws {
        let (pool, worker) = try Self.pair()
        pool.shutDown()
        #expect(throws: ConnectionError.self) { _ = try worker.receive(deadline: .seconds(30)) }
        #expect(throws: ConnectionError.self) { _ = try pool.receive(deadline: .seconds(30)) }
    }

    // Test that before the handshake a peer cannot declare a frame past the hello's limit (the
    // worker would otherwise buffer up to the full frame limit for anyone who can connect),
    // and that after it the full limit applies again.
    @Test func anUnprovenPeerCannotDeclareALargeFrame() throws {
        let (pool, worker) = try Self.pair()
        let header: [UInt8] = [UInt8(truncatingIfNeeded: Handshake.helloLimit + 1), UInt8(truncatingIfNeeded: (Handshake.helloLimit + 1) >> 8), 0, 0]
        _ = header.withUnsafeBytes { send(pool.rawDescriptorForTests, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        #expect(throws: ConnectionError.protocolViolation(.oversized(length: Handshake.helloLimit + 1, limit: Handshake.helloLimit))) {
            try Handshake.accept(worker, token: "secret", welcome: Self.welcome, deadline: .seconds(30))
        }
        // A proven peer may send frames far past the hello's limit.
        let (pool2, worker2) = try Self.pair()
        let serving = Thread {
            try? Handshake.accept(worker2, token: "secret", welcome: Self.welcome, deadline: .seconds(30))
            if case let .heartbeat(id, _)? = try? worker2.receive(deadline: .seconds(30)) {
                try? worker2.send(.note(id: id, text: String(repeating: "x", count: 3 * Handshake.helloLimit)), deadline: .seconds(30))
            }
        }
        serving.start()
        _ = try Handshake.greet(pool2, token: "secret", deadline: .seconds(30))
        let reply = try pool2.request(.heartbeat(id: 4, deadlineMicros: 1000), deadline: .seconds(30))
        #expect(reply == .note(id: 4, text: String(repeating: "x", count: 3 * Handshake.helloLimit)))
        #expect(worker2.frameLimit == Frame.maximumPayload)
    }

    // Test that a watched request ends as `.stalled` with the watcher's reason as soon as the
    // watcher gives one (not at the deadline), and runs to its deadline while the watcher sees life.
    @Test func aStalledPeerEndsTheWaitWithTheWatchersReason() throws {
        let (pool, peer) = try Self.pair()
        defer { withExtendedLifetime(peer) {} }  // open and silent: a peer that answers nothing
        var asked = 0
        #expect(throws: ConnectionError.stalled("frozen")) {
            _ = try pool.request(.heartbeat(id: 1, deadlineMicros: 0), deadline: .seconds(3600), slice: .milliseconds(10)) {
                asked += 1
                return asked >= 3 ? "frozen" : nil
            }
        }
        #expect(asked == 3)
        let (pool2, peer2) = try Self.pair()
        defer { withExtendedLifetime(peer2) {} }
        #expect(throws: ConnectionError.deadline(stage: "receive", seconds: 0.1)) {
            _ = try pool2.request(.heartbeat(id: 1, deadlineMicros: 0), deadline: .milliseconds(100), slice: .milliseconds(10)) { nil }
        }
    }

    // Test that garbage (seeded random frames, oversized lengths, truncated frames) closes the
    // connection with a typed error and never crashes or hangs.
    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64]) func garbageClosesWithATypedError(seed: UInt64) throws {
        var state = seed
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 17 }
        for round in 0..<40 {
            let (pool, worker) = try Self.pair()
            var bytes: [UInt8]
            switch round % 4 {
            case 0: bytes = [0xFF, 0xFF, 0xFF, 0xFF] + (0..<8).map { _ in UInt8(truncatingIfNeeded: next()) }  // oversized
            case 1: bytes = [40, 0, 0, 0] + (0..<10).map { _ in UInt8(truncatingIfNeeded: next()) }  // truncated, then EOF
            default:
                let n = Int(next() % 60)
                bytes = [UInt8(n), 0, 0, 0] + (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) }
            }
            _ = bytes.withUnsafeBytes { send(worker.rawDescriptorForTests, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            worker.close()
            var outcomes = 0
            while outcomes < 4 {  // at most a few messages can be in 70 bytes; then an error
                do { _ = try pool.receive(deadline: .seconds(5)); outcomes += 1 } catch {
                    if case .deadline = error { Issue.record("round \(round): a hang") }
                    break
                }
            }
        }
    }
}
