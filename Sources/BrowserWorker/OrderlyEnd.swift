import Foundation

/// SIGTERM, the pool's orderly end of a browser: the handler only writes a byte to a pipe
/// (async-signal-safe), whichever thread the kernel picks to run it; the main thread waits on
/// the pipe. (A mask blocking SIGTERM would have to be set before every thread exists, and the
/// libraries a worker loads start threads of their own: one missed thread and the default
/// action ends the process before its devices are destroyed.)
enum OrderlyEnd {
    nonisolated(unsafe) private static var pipeWrite: Int32 = -1
    nonisolated(unsafe) private static var pipeRead: Int32 = -1

    /// Installs the handler (once, first thing in the worker).
    static func arm() {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        pipeRead = fds[0]
        pipeWrite = fds[1]
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in
            var byte: UInt8 = 1
            _ = write(OrderlyEnd.pipeWrite, &byte, 1)
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGTERM, &action, nil)
    }

    /// Returns once SIGTERM has arrived (never, if `arm` could not make its pipe: the pool's
    /// SIGKILL past its deadline ends the process then).
    static func wait() {
        var byte: UInt8 = 0
        while true {
            if pipeRead >= 0, read(pipeRead, &byte, 1) == 1 { return }
            if pipeRead < 0 || (errno != EINTR && errno != EAGAIN) { while true { pause() } }
        }
    }
}
