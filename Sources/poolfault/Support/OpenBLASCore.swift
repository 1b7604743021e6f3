import COpenBLAS
import Foundation

/// Which GEMM kernels OpenBLAS runs, for reports: it decides `bench kernels`' baseline (on this
/// project's AVX-512 EPYC machines ~220 GFLOP/s with the Haswell kernels, ~340 with the Cooperlake
/// ones OpenBLAS picks by itself there), and an environment can pin it with OPENBLAS_CORETYPE,
/// which reports then name. The CPU forward's Linear layers run on oneDNN instead (LinearEngine).
enum OpenBLASCore {
    static var description: String {
        let core = openblas_get_corename().map { String(cString: $0) } ?? "?"
        if let pinned = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] { return "\(core) kernels (OPENBLAS_CORETYPE=\(pinned))" }
        return "\(core) kernels"
    }
}
