import FaultTest
import Foundation
import ResourcePool

/// SIGINT and SIGTERM: poolfault ends every browser process at once (within 2 s), lets the
/// scenario in progress fail fast, writes the report of the scenarios finished so far (marked
/// interrupted) and exits 130 or 143. The handler only writes the signal number to a pipe
/// (async-signal-safe); a watcher thread does the rest.
enum Interruption {
    /// The signal that arrived, if any.
    static var signal: Int32? { lock.withLock { received } }

    /// 128 + the signal: the shell's convention (130 for SIGINT, 143 for SIGTERM).
    static var exitStatus: Int32? { signal.map { 128 + $0 } }

    static var name: String { signal == SIGTERM ? "SIGTERM" : "SIGINT" }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var received: Int32?
    nonisolated(unsafe) private static var pipeWrite: Int32 = -1

    /// Installs the handlers (once, before any browser process starts).
    static func install() {
        // A parent may have started us with the signals blocked (some test runners and
        // launchers do): unblock them here, before any thread exists to inherit the mask.
        var mask = sigset_t()
        sigemptyset(&mask)
        sigaddset(&mask, SIGINT)
        sigaddset(&mask, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        pipeWrite = fds[1]
        let reader = fds[0]
        let thread = Thread { watch(reader) }
        thread.name = "poolfault signal watcher"
        thread.start()
        for s in [SIGINT, SIGTERM] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(Interruption.pipeWrite, &byte, 1)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(s, &action, nil)
        }
    }

    private static func watch(_ reader: Int32) {
        var byte: UInt8 = 0
        while read(reader, &byte, 1) != 1 { if errno != EINTR { return } }
        let number = Int32(byte)
        let first = lock.withLock { () -> Bool in
            guard received == nil else { return false }
            received = number
            return true
        }
        guard first else { return }
        let which = number == SIGTERM ? "SIGTERM" : "SIGINT"
        RunStop.request(which)  // the soak and the long loops stop at their next step
        let killed = ProcessSpawner.shared.stopAll(reason: "poolfault received \(which)")
        let gone = ProcessSpawner.shared.waitForNone(timeout: .seconds(2))
        printError("poolfault: \(which): ended \(killed) browser process\(killed == 1 ? "" : "es")\(gone ? "" : " (some still exiting)"); writing the report of the scenarios finished so far")
        // Whatever the main thread is doing must end soon: a second signal, or 20 s, ends it now.
        while true {
            var pending = pollfd(fd: reader, events: Int16(POLLIN), revents: 0)
            if poll(&pending, 1, 20_000) != 1 || read(reader, &byte, 1) == 1 {
                printError("poolfault: \(which): the run did not end in time; exiting without a report")
                _exit(128 + number)
            }
        }
    }
}
