@testable import BrowserProtocol
import Foundation
import Testing
@testable import ResourcePool

/// Several requests in flight on one connection, against a peer the test plays by hand over a
/// real socket pair: the window bounds what is sent, replies reach their callers by id, a
/// request's deadline runs only while it runs, and one failure ends every request in flight.
@Suite struct RequestPipelineTests {
    static func pair() -> (Connection, Connection) {
        var fds: [Int32] = [0, 0]
        precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        return (Connection(fd: fds[0]), Connection(fd: fds[1]))
    }

    struct Failed: Error, Equatable { let why: String }

    /// A pipeline whose failures become `Failed` (counted: each must be made once).
    final class Rig: @unchecked Sendable {
        let pool: Connection, peer: Connection
        let pipeline: RequestPipeline

        init(window: Int) {
            (pool, peer) = RequestPipelineTests.pair()
            let counter = Counter()
            pipeline = RequestPipeline(connection: pool, window: window, slice: .milliseconds(50), watcher: { { nil } }) { error, ticket, _ in
                counter.add()
                return Failed(why: "\(error) [\(ticket.map { "request \($0.id)" } ?? "no request")]")
            }
            self.counter = counter
        }
        private let counter: Counter
        var failuresCounted: Int { counter.value }

        /// Sends `count` heartbeats from threads of their own; the outcomes arrive in `results`.
        func send(_ ids: [UInt64], deadline: Duration, watched: Bool = true) -> Results {
            let results = Results()
            for id in ids {
                results.group.enter()
                Thread { [self] in
                    do {
                        results.set(id, .success(try pipeline.request(.heartbeat(id: id, deadlineMicros: 0), id: id,
                                                                       deadline: deadline, watched: watched)))
                    } catch {
                        results.set(id, .failure(error))
                    }
                    results.group.leave()
                }.start()
            }
            return results
        }

        /// The peer: the ids of the next `count` requests (fewer only if none comes for 30 s).
        func take(_ count: Int) -> [UInt64] {
            var ids: [UInt64] = []
            while ids.count < count, case let .heartbeat(id, _)? = try? peer.receive(deadline: .seconds(30)) { ids.append(id) }
            return ids
        }

        /// The peer: true when no request arrives within `within` (a slow machine can only make
        /// this pass wrongly, never fail wrongly).
        func nothingArrives(within: Duration) -> Bool {
            (try? peer.receive(deadline: within)) == nil
        }
    }

    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        func add() { lock.withLock { count += 1 } }
        var value: Int { lock.withLock { count } }
    }

    final class Results: @unchecked Sendable {
        let group = DispatchGroup()
        private let lock = NSLock()
        private var outcomes: [UInt64: Result<Message, any Error>] = [:]
        func set(_ id: UInt64, _ outcome: Result<Message, any Error>) { lock.withLock { outcomes[id] = outcome } }
        func wait() -> [UInt64: Result<Message, any Error>] {
            _ = group.wait(timeout: .now() + 60)
            return lock.withLock { outcomes }
        }
    }

    // Test that no more than the window is ever sent unanswered, that each answer frees room
    // for one more, and that every caller gets the reply with its own id, whatever the order
    // the peer answers in.
    @Test(arguments: [1, 2, 3])
    func theWindowBoundsWhatIsSentAndRepliesFindTheirCallers(window: Int) throws {
        let rig = Rig(window: window)
        let ids = (1...7).map(UInt64.init)
        let results = rig.send(ids, deadline: .seconds(30), watched: false)
        var outstanding = rig.take(window)
        #expect(outstanding.count == window)
        #expect(rig.nothingArrives(within: .milliseconds(200)), "more than the window (\(window)) sent before any answer")
        var answered: [UInt64] = []
        while answered.count < ids.count {
            // Answer the newest first: the callers must still get their own replies.
            let newest = outstanding.popLast()
            let id = try #require(newest, "nothing left to answer after \(answered)")
            try rig.peer.send(.alive(id: id, components: ["for \(id)"]), deadline: .seconds(5))
            answered.append(id)
            if answered.count + outstanding.count < ids.count { outstanding += rig.take(1) }  // the room it freed
            #expect(rig.nothingArrives(within: .milliseconds(50)), "one answer let more than one request go")
        }
        for (id, outcome) in results.wait() {
            #expect(try outcome.get() == .alive(id: id, components: ["for \(id)"]))
        }
        #expect(Set(answered) == Set(ids) && rig.failuresCounted == 0)
    }

    // Test that a request's deadline runs from when it runs — its send, or the reply before it
    // — not from when it was sent: the peer answers four requests 0.4 s apart, each within a
    // 1 s deadline, though the last was sent 1.6 s before its answer.
    @Test func aQueuedRequestIsNotBlamedForItsWait() throws {
        let rig = Rig(window: 4)
        let ids: [UInt64] = [1, 2, 3, 4]
        let results = rig.send(ids, deadline: .seconds(1))
        let arrived = rig.take(ids.count)
        #expect(Set(arrived) == Set(ids))
        for id in arrived {
            usleep(400_000)
            try rig.peer.send(.alive(id: id, components: []), deadline: .seconds(5))
        }
        for (id, outcome) in results.wait() {
            #expect((try? outcome.get()) == .alive(id: id, components: []), "request \(id): \(outcome)")
        }
        #expect(rig.failuresCounted == 0)
    }

    // Test that the running request's missed deadline ends the pipeline once, and that every
    // request in flight — the one running and those queued behind it — gets that one error.
    @Test func aMissedDeadlineFailsEveryRequestInFlightWithOneError() throws {
        let rig = Rig(window: 8)
        let results = rig.send([1, 2, 3, 4, 5], deadline: .milliseconds(300))
        let outcomes = results.wait()
        #expect(outcomes.count == 5)
        let errors = outcomes.values.compactMap { outcome -> Failed? in
            if case .failure(let e) = outcome { return e as? Failed }
            return nil
        }
        #expect(errors.count == 5 && Set(errors.map(\.why)).count == 1, "\(errors)")
        #expect(errors.first?.why.contains("no answer within") == true, "\(errors)")
        #expect(rig.failuresCounted == 1, "the failure is made once")
        // Once ended, a new request fails at once with the same error.
        #expect(throws: Failed.self) { try rig.pipeline.request(.heartbeat(id: 9, deadlineMicros: 0), id: 9, deadline: .seconds(5), watched: true) }
    }

    // Test that a peer that hangs up with requests in flight fails all of them, once.
    @Test func aHangUpFailsEveryRequestInFlight() throws {
        let rig = Rig(window: 8)
        let results = rig.send([1, 2, 3], deadline: .seconds(30), watched: false)
        #expect(rig.take(3).count == 3)
        #expect(rig.pipeline.inFlight == 3)
        rig.peer.close()
        let outcomes = results.wait()
        #expect(outcomes.values.allSatisfy { if case .failure(let e) = $0 { return (e as? Failed)?.why.contains("closed") == true }; return false },
                "\(outcomes)")
        #expect(rig.failuresCounted == 1)
    }
}
