import Foundation

/// The SIMD width lavapipe (llvmpipe) compiles shaders for, chosen before any driver loads.
///
/// Why poolfault chooses it: Mesa caps llvmpipe at 256-bit vectors even on AVX-512 CPUs
/// (lp_bld_init.c: "Default to 256 until we're confident llvmpipe with 512 is as correct and not
/// slower than 256") and reads `LP_NATIVE_VECTOR_WIDTH` once, when the driver starts. On an
/// AVX-512 CPU, 512 bits runs 16 invocations per instruction instead of 8; with the kernels
/// shaped to the device's subgroup size (`GPUKernels.lanes`), the texel GEMM measured 1.3× the
/// throughput (75 → 100 GFLOP/s on a 2-core Zen 5) and BERT-base's forward 349 → 291 ms, and
/// the whole test suite (every kernel checked against the CPU reference, validation layer on)
/// passes at 512. The device's name says which width is in use ("llvmpipe (…, 512 bits)").
///
/// A width the user set (`LP_NATIVE_VECTOR_WIDTH=256` restores Mesa's default) always wins.
public enum LavapipeVectorWidth {
    /// The width to request, or nil to leave the driver's default: 512 when the CPU has
    /// AVX-512F and the user has not chosen a width.
    public static func choice(userSetting: String?, cpuFlags: Set<Substring>) -> Int? {
        guard userSetting == nil, cpuFlags.contains("avx512f") else { return nil }
        return 512
    }

    /// The width poolfault set, or nil where it left the variable alone (the user set it, or the
    /// CPU lacks AVX-512). Evaluated once, by the loader, before libvulkan loads lavapipe.
    public static let applied: Int? = {
        let environment = ProcessInfo.processInfo.environment
        guard let width = choice(userSetting: environment["LP_NATIVE_VECTOR_WIDTH"], cpuFlags: cpuFlags()) else { return nil }
        setenv("LP_NATIVE_VECTOR_WIDTH", "\(width)", 0)
        return width
    }()

    /// Called by the loader first thing: makes sure `applied` has been evaluated.
    static func applyBeforeLoadingDrivers() { _ = applied }

    /// The CPU feature flags the kernel reports (what the OS has enabled, not just what the
    /// CPU has): the "flags" line of /proc/cpuinfo, empty where it cannot be read.
    static func cpuFlags() -> Set<Substring> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " "))
    }
}
