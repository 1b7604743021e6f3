// swift-tools-version: 6.0
// poolfault: fault-tolerance testing of a GPU resource pool with real Vulkan compute.
// Layers (lower never imports higher), see docs/architecture.md:
//   poolfault (CLI) → FaultTest → ResourcePool → TransformerGPU → VulkanCompute
//                                             ↘ Transformer (CPU reference, oneDNN + OpenBLAS)
//                                ResourcePool → BrowserWorker (the browser process's role)
//                                             → BrowserProtocol (frames, messages; both sides)
import PackageDescription

let package = Package(
    name: "poolfault",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "poolfault", targets: ["poolfault"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        // Prometheus exposition (metric registry, text format with HELP and TYPE).
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // System libraries from Debian's packages (ci/install-deps installs them).
        .systemLibrary(name: "CVulkan",
                       providers: [.apt(["libvulkan-dev", "mesa-vulkan-drivers"])]),
        // pkg-config name "spirv", not "glslang": only spirv.pc brings the SPIRV and
        // SPIRV-Tools libraries that glslang's SPIR-V back end needs.
        .systemLibrary(name: "CGlslang", pkgConfig: "spirv",
                       providers: [.apt(["glslang-dev", "spirv-tools"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        // oneDNN: the CPU forward's Linear layers (Sources/Transformer/LinearEngine.swift: why).
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        // glibc's process calls Swift's Glibc module does not import (spawn closefrom, memfd,
        // pidfd, parent-death signal).
        .systemLibrary(name: "CProcess"),
        // exp/erf loops for the CPU forward, built for the baseline and for AVX2+FMA, chosen at
        // run time (Swift has no per-function target attribute; see vector_math.c).
        .target(name: "CVectorMath", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=fast"])]),

        // GLSL compute sources, embedded in the binary so a copied executable needs only
        // the Vulkan loader at run time.
        .target(name: "Shaders", dependencies: ["VulkanCompute"], path: "Shaders",
                exclude: ["README.md"],
                resources: shaderFiles.map { .embedInCode($0) }),

        .target(name: "VulkanCompute",
                dependencies: ["CVulkan", "CGlslang",
                               .product(name: "Logging", package: "swift-log")]),
        // What crosses between the pool and a browser process: frames, messages, typed errors,
        // the death watch. No Vulkan, no pool, no model: both sides use it.
        .target(name: "BrowserProtocol", dependencies: ["CProcess"]),
        .target(name: "Transformer",
                dependencies: ["COpenBLAS", "CDNNL", "CProcess", "CVectorMath", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
                swiftSettings: optimizedEvenInDebug),
        .target(name: "TransformerGPU",
                dependencies: ["VulkanCompute", "Transformer", "Shaders"],
                swiftSettings: optimizedEvenInDebug),
        // What the pool hands a browser process: its start spec, and a model's activations as
        // wire tensors. The pool and the worker both import it; neither imports the other.
        .target(name: "BrowserLaunch",
                dependencies: ["BrowserProtocol", "TransformerGPU", "Transformer", "VulkanCompute"]),
        // The worker role: a browser process serving its contexts over BrowserProtocol. Thin:
        // TransformerGPU behind a request loop; no plan, strategy or report.
        .target(name: "BrowserWorker",
                dependencies: ["BrowserLaunch", "BrowserProtocol", "TransformerGPU", "Transformer", "VulkanCompute", "Shaders", "CProcess"]),
        .target(name: "ResourcePool",
                dependencies: ["VulkanCompute", "Transformer", "TransformerGPU", "Shaders", "BrowserProtocol", "BrowserLaunch", "CProcess",
                               .product(name: "Logging", package: "swift-log")]),
        .target(name: "FaultTest",
                dependencies: ["ResourcePool", "Transformer", "VulkanCompute",
                               .product(name: "Histogram", package: "hdrhistogram-swift"),
                               .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                               .product(name: "Prometheus", package: "swift-prometheus")]),
        .executableTarget(name: "poolfault",
                          dependencies: ["VulkanCompute", "Transformer", "TransformerGPU", "ResourcePool", "FaultTest", "Shaders", "COpenBLAS",
                                         "BrowserLaunch", "BrowserWorker",
                                         .product(name: "Histogram", package: "hdrhistogram-swift"),
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "Logging", package: "swift-log"),
                                         .product(name: "Prometheus", package: "swift-prometheus")]),

        .testTarget(name: "VulkanComputeTests",
                    dependencies: ["VulkanCompute", "Shaders", "Transformer"]),  // Transformer: Numerics.worst
        .testTarget(name: "BrowserProtocolTests",
                    dependencies: ["BrowserProtocol"]),
        // Browser processes for real: pools in process isolation over the built `poolfault`
        // (depending on it makes SwiftPM build it), and the CLI's process-mode contract.
        .testTarget(name: "ProcessIsolationTests",
                    dependencies: ["poolfault", "ResourcePool", "FaultTest", "Transformer", "VulkanCompute", "BrowserProtocol"]),
        .testTarget(name: "TransformerTests",
                    dependencies: ["Transformer", "CVectorMath"]),
        .testTarget(name: "TransformerGPUTests",
                    dependencies: ["TransformerGPU", "Transformer", "VulkanCompute", "Shaders"]),
        .testTarget(name: "ResourcePoolTests",
                    dependencies: ["ResourcePool", "TransformerGPU", "Transformer", "VulkanCompute"]),
        .testTarget(name: "FaultTestTests",
                    dependencies: ["FaultTest", "ResourcePool", "Transformer", "VulkanCompute"]),
        // Runs the built `poolfault` binary end to end (depending on it makes SwiftPM build it).
        .testTarget(name: "PoolfaultCLITests",
                    dependencies: ["poolfault", "Transformer", "FaultTest"]),
    ]
)

/// Every kernel in Shaders/. Listed by name so a missing file fails the build, not a run.
var shaderFiles: [String] {
    ["vector_add.comp", "gemm_naive.comp", "spin.comp", "hang.comp",
     "gemm_texel.comp", "gemm_tiled.comp", "gemm_epilogue.glsl", "layernorm.comp", "layernorm_rows.comp", "attention.comp",
     "bert_embeddings.comp", "vit_patches.comp", "vit_assemble.comp", "activation.comp",
     "gemm_check.comp", "scrub.comp"]
}

/// The numeric loops (seeded weights, the CPU reference's glue, the checksum tests) run
/// optimized in the debug build too: the tests spend most of their time in them.
var optimizedEvenInDebug: [SwiftSetting] { [.unsafeFlags(["-O"], .when(configuration: .debug))] }
