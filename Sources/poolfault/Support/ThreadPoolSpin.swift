import Foundation

/// How long the CPU libraries' worker threads spin after a call before they sleep.
///
/// Why poolfault shortens it: OpenBLAS's workers spin for 2^28 cycles (~0.1 s) after every
/// call, and OpenMP's (libgomp, under oneDNN's Linear layers) spin too by default. poolfault runs
/// them (the webnn backend, the reference every result is checked against) and lavapipe's compute
/// threads in one process, and on a 2-core machine a spinning worker takes a whole core from
/// lavapipe: `bench kernels`, alternating the two, saw the Vulkan GEMM halve (≈100 → ≈50
/// GFLOP/s) in about one measurement in four with OpenBLAS's default; `bench forward` saw the
/// lavapipe forward of BERT-base go 186 → 231 ms behind oneDNN's spinning OpenMP workers. The
/// CPU libraries' own speed did not change with the spin shortened (BERT webnn 71 ms either
/// way). Both libraries read their variable once, when they load (before `main`), so for each
/// the user has not set poolfault sets it and re-executes itself, once. If that exec fails it
/// carries on with the libraries' defaults. A value the user set always wins (set them when
/// running poolfault under a debugger or valgrind, which an exec would leave).
enum ThreadPoolSpin {
    /// Each variable and the value poolfault gives it when the user has not.
    static let defaults: KeyValuePairs<String, String> = [
        "OPENBLAS_THREAD_TIMEOUT": "4",  // 2^4 cycles: OpenBLAS workers sleep at once
        "OMP_WAIT_POLICY": "passive",    // OpenMP workers sleep at once
    ]
    /// Names the variables poolfault set itself, so that programs that are not poolfault (the
    /// PyTorch it is compared with) get the user's environment, not poolfault's choice.
    static let marker = "POOLFAULT_SET_SPIN"

    /// Call first thing in `main`: returns only when no re-exec was needed (or it failed).
    static func shortenBeforeStart() {
        let unset = defaults.filter { getenv($0.key) == nil }
        guard !unset.isEmpty else { return }
        for (name, value) in unset { setenv(name, value, 1) }
        let previous = getenv(marker).map { String(cString: $0) }.map { $0.split(separator: ",").map(String.init) } ?? []
        setenv(marker, (previous + unset.map(\.key)).joined(separator: ","), 1)
        // The resolved path, not /proc/self/exe itself: exec'ing that link would name the
        // process "exe" in ps and top.
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "/proc/self/exe"
        execv(path, CommandLine.unsafeArgv)
    }

    /// This process's environment as the user gave it: without the variables poolfault set.
    static var userEnvironment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for name in (environment[marker] ?? "").split(separator: ",") { environment[String(name)] = nil }
        environment[marker] = nil
        return environment
    }

    /// What bench output reports for OpenBLAS: log2 of the spin cycles it read at load.
    static var openBLAS: String {
        let value = ProcessInfo.processInfo.environment["OPENBLAS_THREAD_TIMEOUT"].flatMap { Int($0) }
        return "workers spin 2^\(value.map { min(max($0, 4), 30) } ?? 28) cycles"
    }

    /// What bench output reports for OpenMP (oneDNN's threads): the wait policy it read at load.
    static var openMP: String {
        "OpenMP workers \(ProcessInfo.processInfo.environment["OMP_WAIT_POLICY"].map { "wait \($0.lowercased())" } ?? "spin, then sleep")"
    }
}
