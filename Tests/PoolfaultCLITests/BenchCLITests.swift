import Foundation
import Testing

/// `poolfault bench kernels|forward --json` end to end: the shapes the issue names, both
/// backends measured in the same run, results checked (a wrong GEMM fails the bench), and the
/// OpenBLAS and OpenMP worker spin shortened unless the user chose it.
@Suite(.serialized) struct BenchCLITests {
    static func json(_ r: CLIRunner.Result) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
    }

    @Test func kernelsReportsEveryShapeForBothBackends() throws {
        let r = try CLIRunner.run(["bench", "kernels", "--runs", "1", "--json"],
                                  environment: ["OPENBLAS_THREAD_TIMEOUT": nil, "OPENBLAS_CORETYPE": "Haswell"])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try Self.json(r)["gemm"] as? [[String: Any]] ?? []
        let shapes = Set(rows.map { "\($0["m"] ?? 0)x\($0["k"] ?? 0)x\($0["n"] ?? 0)" })
        #expect(shapes == ["128x768x3072", "128x768x768", "128x3072x768", "197x768x3072"])
        #expect(Set(rows.map { $0["backend"] as? String ?? "" }) == ["vulkan", "openblas", "onednn"])
        #expect(rows.allSatisfy { ($0["gflops"] as? Double ?? 0) > 0 })
        // The texel tile's rows follow M (lavapipe, 256 or 512 bits alike): 32 for 128, 50 for 197.
        let tiles = Dictionary(rows.filter { $0["backend"] as? String == "vulkan" }.map { ("\($0["m"] ?? 0)", $0["tile"] as? String ?? "none") },
                               uniquingKeysWith: { a, b in a == b ? a : "\(a)|\(b)" })
        #expect(tiles == ["128": "32x16", "197": "50x16"])
        let openblas = rows.first { $0["backend"] as? String == "openblas" }?["device"] as? String ?? ""
        #expect(openblas.contains("workers spin 2^4 cycles"), "poolfault re-executed itself with the short spin: \(openblas)")
        // The baseline's kernels are named, and so is a pin of them by the environment (some
        // machines set OPENBLAS_CORETYPE; it decides OpenBLAS's speed).
        #expect(openblas.contains("Haswell kernels (OPENBLAS_CORETYPE=Haswell)"), "\(openblas)")
    }

    @Test func aSpinTheUserChoseIsKept() throws {
        let r = try CLIRunner.run(["bench", "forward", "--layers", "1", "--seq-len", "8", "--runs", "1", "--json", "--breakdown"],
                                  environment: ["OMP_WAIT_POLICY": "active"])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try Self.json(r)["forward"] as? [[String: Any]] ?? []
        #expect(Set(rows.map { $0["backend"] as? String ?? "" }) == ["webgpu", "webnn"])
        #expect(rows.allSatisfy { ($0["max_abs_error"] as? Double ?? 1) <= 1e-4 })
        let webnn = rows.first { $0["backend"] as? String == "webnn" }?["device"] as? String ?? ""
        #expect(webnn.contains("OpenMP workers wait active"), "\(webnn)")
        // --breakdown: every dispatch kind of a BERT layer, layer numbers taken out.
        let breakdown = try Self.json(r)["breakdown"] as? [String: Any] ?? [:]
        let kinds = Set((breakdown["rows"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String })
        #expect(kinds.isSuperset(of: ["attention.self.query", "attention.self.core", "intermediate.dense", "output.LayerNorm",
                                      "embeddings.gather", "pooler.dense"]), "\(kinds)")
        #expect((breakdown["total_ms"] as? Double ?? 0) > 0)
    }

    /// The CPU forward's Linear layers run on oneDNN, whose kernels follow the CPU's features,
    /// whether or not the environment pins OpenBLAS's (OPENBLAS_CORETYPE); both name them, and
    /// poolfault's own OpenMP wait policy when the user set none.
    @Test func theCPUForwardNamesItsKernelsWhateverOpenBLASIsPinnedTo() throws {
        var named: Set<String> = []
        for pin in ["Haswell", nil] as [String?] {
            let r = try CLIRunner.run(["bench", "forward", "--layers", "1", "--seq-len", "8", "--runs", "1", "--json"],
                                      environment: ["OPENBLAS_CORETYPE": pin, "OMP_WAIT_POLICY": nil])
            #expect(r.status == 0, "\(r.stderr)")
            let rows = try Self.json(r)["forward"] as? [[String: Any]] ?? []
            let webnn = rows.first { $0["backend"] as? String == "webnn" }?["device"] as? String ?? ""
            #expect(webnn.contains("oneDNN ") && webnn.contains(" matmul, ") && webnn.contains(" threads, OpenMP workers wait passive"),
                    "\(webnn)")
            #expect(!webnn.contains("OPENBLAS"), "\(webnn)")
            named.insert(webnn)
        }
        #expect(named.count == 1, "the pin changed the CPU forward's kernels: \(named)")
    }

    @Test func aBadRunCountIsAUsageError() throws {
        let r = try CLIRunner.run(["bench", "kernels", "--runs", "0"])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(!r.stderr.contains("Fatal error"))
    }
}
