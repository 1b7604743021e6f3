import Foundation

/// A request to stop early (SIGINT or SIGTERM, seen by the CLI): the soak, the crash cycles and
/// the benchmarks look at it between steps, end within moments, and report what they finished,
/// marked interrupted. Process-wide, set once.
public enum RunStop {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var reason: String?

    /// Asks every long loop to stop; `why` ("SIGINT") is what the reports say.
    public static func request(_ why: String) { lock.withLock { if reason == nil { reason = why } } }

    /// Why a stop was asked for, or nil.
    public static var requested: String? { lock.withLock { reason } }
}
