import COpenBLAS
import Foundation
import VulkanCompute

// Helpers every benchmark shares: timing, medians, and the state that decides what a timing means.

/// Seconds `body` took.
func time(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    return (ContinuousClock.now - start).seconds
}

func openblasThreads() -> Int { Int(openblas_get_num_threads()) }

func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    guard !s.isEmpty else { return 0 }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Mesa's on-disk shader cache state, which decides lavapipe's first-dispatch cost.
func mesaCacheState(_ env: [String: String] = ProcessInfo.processInfo.environment) -> String {
    if env["MESA_SHADER_CACHE_DISABLE"] == "true" || env["MESA_SHADER_CACHE_DISABLE"] == "1" { return "disabled" }
    let dir: String
    if let chosen = env["MESA_SHADER_CACHE_DIR"] {
        dir = chosen
    } else if let xdg = env["XDG_CACHE_HOME"], !xdg.isEmpty {
        dir = xdg + "/mesa_shader_cache"
    } else {
        dir = (env["HOME"] ?? "/") + "/.cache/mesa_shader_cache"
    }
    // Mesa turns its cache off, silently, when it cannot create or write the folder.
    var probe = dir
    while !FileManager.default.fileExists(atPath: probe), probe != "/", !probe.isEmpty {
        probe = (probe as NSString).deletingLastPathComponent
    }
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: probe, isDirectory: &isDirectory), isDirectory.boolValue,
          access(probe, W_OK) == 0 else {
        return "disabled (\(dir) is not writable, so Mesa turned its cache off)"
    }
    return env["MESA_SHADER_CACHE_DIR"] != nil ? "enabled (\(dir))" : "enabled (default \(dir))"
}

/// lavapipe's SIMD width and who chose it, for reports.
func lavapipeWidthState() -> String {
    if let width = LavapipeVectorWidth.applied { return "\(width) bits (poolfault's choice on this AVX-512 CPU)" }
    if let user = ProcessInfo.processInfo.environment["LP_NATIVE_VECTOR_WIDTH"] { return "\(user) bits (LP_NATIVE_VECTOR_WIDTH)" }
    return "Mesa's default (256 bits where AVX2, less without)"
}
