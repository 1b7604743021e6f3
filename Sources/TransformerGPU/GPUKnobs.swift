import VulkanCompute

/// The environment knobs of this layer (see `EnvironmentKnob`).
public enum GPUKnobs {
    /// Forces a GEMM family.
    public static let gemm = EnvironmentKnob<GEMMFamily>("POOLFAULT_GEMM", expected: "texel or tiled") {
        GEMMFamily(rawValue: $0)
    }

    /// The texel GEMM's per-invocation tile. Bounded because lavapipe's JIT time grows faster
    /// than the tile (gemm_texel.comp): 66×16 compiles in ~14 s cold, 66×24 in 27 s, and 64×64
    /// ran past two minutes, so a bigger tile is refused rather than left to outlast the waits.
    public static let maxTexelTileArea = 66 * 16
    public static let texelTile = EnvironmentKnob<(rows: Int, cols: Int)>(
        "POOLFAULT_TEXEL_TILE",
        expected: "ROWSxCOLS with rows from 1, columns a multiple of 4 (stored as vec4) and rows×columns at most \(maxTexelTileArea) (default: 32 or 50 rows by sequence, 16 columns; largest 66x16)") { text in
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let r = Int(parts[0]), let c = Int(parts[1]), r >= 1, c >= 4, c % 4 == 0,
              r <= maxTexelTileArea, c <= maxTexelTileArea, r * c <= maxTexelTileArea else { return nil }
        return (r, c)
    }

    /// Queries per attention invocation.
    public static let attentionQueries = EnvironmentKnob.integer("POOLFAULT_ATTENTION_QUERIES", 1...16)

    /// Where the tuner's kernel choices live (default: beside Mesa's shader cache).
    public static let kernelChoices = EnvironmentKnob<String>("POOLFAULT_KERNEL_CHOICES", expected: "a file path") {
        $0.isEmpty ? nil : $0
    }

    /// off: the built-in kernel defaults, no tuning pass, no cache read or written.
    public static let tuning = EnvironmentKnob<Bool>("POOLFAULT_TUNING", expected: "on or off") {
        switch $0.lowercased() { case "on", "1": return true; case "off", "0": return false; default: return nil }
    }

    public static let checks: [@Sendable ([String: String]) throws -> Void] = [gemm.check, texelTile.check, attentionQueries.check,
                                                                               kernelChoices.check, tuning.check]
}
