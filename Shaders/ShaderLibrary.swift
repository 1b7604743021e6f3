// The GLSL sources of Shaders/, embedded in the binary at build time (Package.swift lists each
// file with `.embedInCode`), so no shader file has to be found on disk at run time.

import VulkanCompute

public enum ShaderLibrary {
    public static let vectorAdd = source("vector_add.comp", PackageResources.vector_add_comp)
    public static let gemmNaive = source("gemm_naive.comp", PackageResources.gemm_naive_comp)
    public static let spin = source("spin.comp", PackageResources.spin_comp)

    /// Every kernel, by file name.
    public static let all: [String: ShaderSource] = Dictionary(
        uniqueKeysWithValues: [vectorAdd, gemmNaive, spin].map { ($0.fileName, $0) })

    private static func source(_ fileName: String, _ bytes: [UInt8]) -> ShaderSource {
        ShaderSource(fileName: fileName, text: String(decoding: bytes, as: UTF8.self))
    }
}
