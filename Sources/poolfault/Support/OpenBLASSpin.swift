import Foundation

/// How long OpenBLAS's worker threads spin after a call before they sleep.
///
/// Why poolfault shortens it: OpenBLAS's workers spin for 2^28 cycles (~0.1 s) after every
/// call. poolfault runs OpenBLAS (the webnn backend, the reference every result is checked
/// against) and lavapipe's compute threads in one process, and on a 2-core machine a spinning
/// worker takes a whole core from lavapipe: `bench kernels`, alternating the two, saw the Vulkan
/// GEMM halve (≈100 → ≈50 GFLOP/s) in about one measurement in four, and never with the spin
/// shortened; OpenBLAS's own GFLOP/s did not change. OpenBLAS reads OPENBLAS_THREAD_TIMEOUT
/// once, when it loads (before `main`), so when the user has not set it poolfault sets it to
/// 4 (2^4 cycles: workers sleep at once) and re-executes itself, once. If that exec fails it
/// carries on with OpenBLAS's default. A value the user set always wins, and skips the re-exec
/// (set it when running poolfault under a debugger or valgrind, which an exec would leave).
enum OpenBLASSpin {
    static let variable = "OPENBLAS_THREAD_TIMEOUT"
    static let shortened = "4"

    /// Call first thing in `main`: returns only when no re-exec was needed (or it failed).
    static func shortenBeforeStart() {
        guard getenv(variable) == nil else { return }
        setenv(variable, shortened, 1)
        // The resolved path, not /proc/self/exe itself: exec'ing that link would name the
        // process "exe" in ps and top.
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "/proc/self/exe"
        execv(path, CommandLine.unsafeArgv)
    }

    /// What bench output reports: log2 of the spin cycles OpenBLAS read at load.
    static var description: String {
        let value = ProcessInfo.processInfo.environment[variable].flatMap { Int($0) }
        return "workers spin 2^\(value.map { min(max($0, 4), 30) } ?? 28) cycles"
    }
}
