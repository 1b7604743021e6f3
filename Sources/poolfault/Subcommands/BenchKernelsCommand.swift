import ArgumentParser
import COpenBLAS
import Foundation
import TransformerGPU
import Transformer
import VulkanCompute

/// `poolfault bench kernels`: GEMM throughput of the Vulkan kernel and of OpenBLAS on the
/// transformer's shapes, measured in the same run, with their ratio; and of the CPU forward's own
/// Linear (oneDNN's matmul), for scale.
struct BenchKernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "GEMM GFLOP/s: the Vulkan kernel vs OpenBLAS (and the CPU forward's oneDNN) on BERT/ViT shapes (M×K×N).")

    @OptionGroup var deviceOptions: DeviceOptions

    @Option(help: "Timed repetitions per shape and backend (the median is reported).")
    var runs = 7

    @Flag(help: "Print {\"gemm\": [...]} as JSON.")
    var json = false

    struct Row: Encodable {
        let m, n, k: Int
        let backend: String
        let device: String
        let gflops: Double
        let medianMs: Double
        /// The texel kernel's tile (rows × columns) for this M; nil for the CPU or the tiled family.
        var tile: String? = nil
    }

    /// (M, K, N): activations × weightsᵀ.
    static let shapes = [(128, 768, 3072), (128, 768, 768), (128, 3072, 768), (197, 768, 3072)]

    func run() throws {
        try reportingErrors {
            guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
            let (instance, physical) = try deviceOptions.open(logger: Logs.logger("bench"))
            let device = try ComputeDevice(physical: physical, label: "bench")
            let channel = try Channel(device: device, label: "bench")
            let config = ModelConfig.bertBaseUncased
            // The tile's rows are chosen for the M they cover: one set of kernels per M.
            var kernelsByRows: [Int: GPUKernels] = [:]
            var family = GEMMFamily.tiled
            let cpuName = "OpenBLAS \(openblasThreads()) threads, \(OpenBLASCore.description), \(ThreadPoolSpin.openBLAS)"
            let linearName = "\(CPUReference.linearKernels), \(ThreadPoolSpin.openMP)"
            var rows: [Row] = []
            var errors: [String] = []
            for (m, k, n) in Self.shapes {
                // Seeded operands: every run multiplies the same matrices.
                var rng = Xoshiro256StarStar(seed: UInt64(m * k + n))
                let a = (0..<m * k).map { _ in rng.nextSignedUnitFloat() }
                let w = (0..<n * k).map { _ in rng.nextSignedUnitFloat() }
                let bias = [Float](repeating: 0, count: n)
                let flops = 2.0 * Double(m * n * k)
                let tileRows = GEMMFamily.texelRows(covering: m, lanes: GPUKernels.simdLanes(physical.info), tuned: KernelChoiceBook.shared.choices(for: physical.info))
                let kernels = try kernelsByRows[tileRows] ?? GPUKernels(device: device, config: config, texelRows: tileRows)
                kernelsByRows[tileRows] = kernels
                family = kernels.family

                var cpuOut = [Float](repeating: 0, count: m * n), linearOut = cpuOut
                let cpuRun = {
                    time { cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), w, Int32(k), 0, &cpuOut, Int32(n)) }
                }
                let linearRun = {
                    time { Numerics.linear(a, rows: m, inFeatures: k, weight: w, bias: bias, outFeatures: n, into: &linearOut) }
                }
                let buffers = try [a, bias].map { values in
                    let b = try DeviceBuffer(device: device, size: values.count * 4, label: "bench")
                    try b.write(values, via: channel)
                    return b
                } + [try kernels.weightBuffer(w, rows: n, k: k, label: "bench W", via: channel)]
                let c = try DeviceBuffer(device: device, size: m * n * 4, label: "c")
                let steps = try kernels.gemm(buffers[0], buffers[2], buffers[1], c, m: m, n: n, k: k, label: "gemm")
                let batch = try channel.record(steps, timestamps: true)
                let gpuRun = {
                    try channel.submit(batch).seconds
                }
                // Warm-up (lavapipe compiles the shader at the first dispatch; OpenBLAS starts its
                // threads), then the two backends alternate: a shared host's noise hits both alike.
                _ = cpuRun()
                _ = linearRun()
                _ = try gpuRun()
                var cpuTimes: [Double] = [], linearTimes: [Double] = [], gpuTimes: [Double] = []
                for _ in 0..<runs {
                    cpuTimes.append(cpuRun())
                    gpuTimes.append(try gpuRun())
                    linearTimes.append(linearRun())
                }
                let gpuOut = try c.readFloats(m * n, via: channel)
                let diff = Numerics.maxAbsDifference(gpuOut, cpuOut)
                if diff > 1e-3 { errors.append("\(m)×\(k)×\(n): Vulkan result differs from OpenBLAS by \(diff)") }
                let linearDiff = Numerics.maxAbsDifference(linearOut, cpuOut)
                if linearDiff > 1e-3 { errors.append("\(m)×\(k)×\(n): oneDNN's result differs from OpenBLAS by \(linearDiff)") }
                for (backend, name, times) in [("vulkan", physical.info.name, gpuTimes), ("openblas", cpuName, cpuTimes),
                                               ("onednn", linearName, linearTimes)] {
                    let t = median(times)
                    rows.append(Row(m: m, n: n, k: k, backend: backend, device: name, gflops: flops / t / 1e9, medianMs: t * 1000,
                                    tile: backend == "vulkan" && family == .texel ? "\(tileRows)x\(GEMMFamily.texelColumns)" : nil))
                }
            }
            if json {
                struct Out: Encodable { let gemm: [Row]; let gemmFamily: String; let runs: Int; let mesaShaderCache: String }
                print(try jsonString(Out(gemm: rows, gemmFamily: family.rawValue, runs: runs, mesaShaderCache: mesaCacheState())))
            } else {
                print("GEMM, M×K×N (activations × weightsᵀ), medians of \(runs) alternating runs after a warm-up · Vulkan: \(physical.info.name), \(family.rawValue) kernel, GPU timestamps · CPU: \(cpuName) · the CPU forward's Linear: \(linearName) · Mesa shader cache: \(mesaCacheState())")
                print("shape              vulkan GFLOP/s   openblas GFLOP/s   ratio   tile     onednn GFLOP/s")
                for i in stride(from: 0, to: rows.count, by: 3) {
                    let g = rows[i], b = rows[i + 1], d = rows[i + 2]
                    let shape = "\(g.m)×\(g.k)×\(g.n)".padding(toLength: 18, withPad: " ", startingAt: 0)
                    print(shape + String(format: " %15.1f   %16.1f   %5.2f   ", g.gflops, b.gflops, g.gflops / b.gflops)
                          + (g.tile ?? "-").padding(toLength: 6, withPad: " ", startingAt: 0) + String(format: " %16.1f", d.gflops))
                }
            }
            if !errors.isEmpty {
                errors.forEach { printError("poolfault: \($0)") }
                throw ExitCode(ExitStatus.scenarioFailed)
            }
            try finishValidation(instance)
        }
    }
}
