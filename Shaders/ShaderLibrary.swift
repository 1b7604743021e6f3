// The GLSL sources of Shaders/, embedded in the binary at build time (Package.swift lists each
// file with `.embedInCode`), so no shader file has to be found on disk at run time.
import VulkanCompute

public enum ShaderLibrary {
    // Smoke and test kernels.
    public static let vectorAdd = source("vector_add.comp", PackageResources.vector_add_comp)
    public static let gemmNaive = source("gemm_naive.comp", PackageResources.gemm_naive_comp)
    public static let spin = source("spin.comp", PackageResources.spin_comp)
    public static let hang = source("hang.comp", PackageResources.hang_comp)

    // Transformer kernels.
    /// The CPU-shaped GEMM (lavapipe): texel-buffer loads, a register tile per invocation (GEMMFamily.texelTile).
    public static let gemmTexel = withEpilogue("gemm_texel.comp", PackageResources.gemm_texel_comp)
    /// The GPU-shaped GEMM: 64×64 shared-memory tiles.
    public static let gemmTiled = withEpilogue("gemm_tiled.comp", PackageResources.gemm_tiled_comp)
    /// LayerNorm (± residual), one 64-invocation workgroup per row: GPUs.
    public static let layerNorm = source("layernorm.comp", PackageResources.layernorm_comp)
    /// LayerNorm (± residual), one SIMD group per row, texel loads, no barriers: lavapipe.
    public static let layerNormRows = source("layernorm_rows.comp", PackageResources.layernorm_rows_comp)
    public static let attention = source("attention.comp", PackageResources.attention_comp)
    public static let bertEmbeddings = source("bert_embeddings.comp", PackageResources.bert_embeddings_comp)
    public static let vitPatches = source("vit_patches.comp", PackageResources.vit_patches_comp)
    public static let vitAssemble = source("vit_assemble.comp", PackageResources.vit_assemble_comp)
    /// GELU or tanh in place: the epilogues the texel GEMM runs as a separate pass.
    public static let activation = withEpilogue("activation.comp", PackageResources.activation_comp)
    /// A Linear's checksum against its product (silent-corruption detection).
    public static let gemmCheck = source("gemm_check.comp", PackageResources.gemm_check_comp)
    /// Row digests of a weight buffer (weight scrubbing).
    public static let scrub = source("scrub.comp", PackageResources.scrub_comp)

    /// Every kernel, by file name.
    public static let all: [String: ShaderSource] = Dictionary(
        uniqueKeysWithValues: [vectorAdd, gemmNaive, spin, hang, gemmTexel, gemmTiled, layerNorm, layerNormRows, attention,
                               bertEmbeddings, vitPatches, vitAssemble, activation, gemmCheck, scrub].map { ($0.fileName, $0) })

    private static func source(_ fileName: String, _ bytes: [UInt8]) -> ShaderSource {
        ShaderSource(fileName: fileName, text: String(decoding: bytes, as: UTF8.self))
    }

    /// A GEMM kernel with the shared epilogue appended after it (the kernel forward-declares
    /// `store`), so compile errors in the kernel keep their line numbers.
    private static func withEpilogue(_ fileName: String, _ bytes: [UInt8]) -> ShaderSource {
        let epilogue = String(decoding: PackageResources.gemm_epilogue_glsl, as: UTF8.self)
        return ShaderSource(fileName: fileName, text: String(decoding: bytes, as: UTF8.self) + "\n" + epilogue)
    }
}
