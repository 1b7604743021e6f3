import VulkanCompute

/// The environment variables the CPU forward's libraries read (libgomp, OpenBLAS, oneDNN), checked
/// like poolfault's own knobs: a value they would silently ignore or misread is refused up front.
enum CPUKnobs {
    /// A count per nesting level ("8" or "8,2"), each 1 to 4096: libgomp's form.
    static let ompNumThreads = EnvironmentKnob<[Int]>("OMP_NUM_THREADS", expected: "a whole number from 1 to 4096, or a comma-separated list of them") { text in
        let counts = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ $0.map { (1...4096).contains($0) } ?? false }) else { return nil }
        return counts.compactMap { $0 }
    }
    static let ompWaitPolicy = EnvironmentKnob<String>("OMP_WAIT_POLICY", expected: "active or passive") { text in
        ["active", "passive"].contains(text.lowercased()) ? text.lowercased() : nil
    }
    /// OpenBLAS spins 2^N cycles; it takes N from 4 to 30.
    static let openBLASThreadTimeout = EnvironmentKnob.integer("OPENBLAS_THREAD_TIMEOUT", 4...30)
    static let dnnlMaxCPUISA = EnvironmentKnob<String>(
        "DNNL_MAX_CPU_ISA",
        expected: "one of " + known.joined(separator: ", ")) { text in
        known.contains(text.uppercased()) ? text.uppercased() : nil
    }
    /// The ISA names oneDNN 3.x takes (any case).
    static let known = ["ALL", "SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI", "AVX512_CORE_BF16",
                        "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16", "AVX10_1_512", "AVX10_1_512_AMX",
                        "AVX10_1_512_AMX_FP16", "AVX10_2_512", "AVX10_2_512_AMX_2"]

    static let checks: [@Sendable ([String: String]) throws -> Void] =
        [ompNumThreads.check, ompWaitPolicy.check, openBLASThreadTimeout.check, dnnlMaxCPUISA.check]
}
