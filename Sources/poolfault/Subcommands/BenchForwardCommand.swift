import ArgumentParser
import Foundation
import Transformer
import TransformerGPU
import VulkanCompute

/// `poolfault bench forward`: median whole-model forward latency per backend.
struct BenchForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Median forward latency: webgpu (Vulkan) and webnn (CPU, OpenBLAS), same model and input.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var deviceOptions: DeviceOptions

    @Option(help: "Timed forwards per backend (after one warm-up).")
    var runs = 5

    @Flag(help: "Print {\"forward\": [...]} as JSON.")
    var json = false

    @Flag(help: "Also time every dispatch (GPU timestamps, on a second context) and show where the webgpu forward's time goes.")
    var breakdown = false

    struct Row: Encodable {
        let model: String
        let backend: String
        let device: String
        let medianMs: Double
        let minMs: Double
        let firstMs: Double
        let maxAbsError: Float
    }

    func run() throws {
        try reportingErrors {
            guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
            let (config, weights) = try model.load()
            let input = ModelInput.seeded(config: config, seed: model.seed)
            let cpu = try CPUReference(weights: weights)
            var cpuOut: ModelOutput?
            let cpuTimes = try (0...runs).map { _ in try time { cpuOut = try cpu.forward(input) } }
            guard let reference = cpuOut else { return }

            let (instance, physical) = try deviceOptions.open(logger: Logs.logger("bench"))
            let device = try ComputeDevice(physical: physical, label: "bench")
            let channel = try Channel(device: device, label: "bench")
            let context = try GPUModelContext(channel: channel, config: config, kernels: try GPUKernels(device: device, config: config))
            for c in config.components { try context.load(c, from: weights) }
            var worst: Float = 0
            let gpuTimes = try (0...runs).map { _ in
                var state = try ActivationState.initial(input, config: config)
                let t = try time { try context.run(config.components, state: &state) }
                worst = max(worst, state.output.compared(to: reference).lastHiddenState.maxAbs)
                return t
            }
            let rows = [
                Row(model: config.name, backend: "webgpu", device: "\(physical.info.name) (\(context.kernels.family.rawValue) GEMM)",
                    medianMs: median(Array(gpuTimes.dropFirst())) * 1000, minMs: (gpuTimes.dropFirst().min() ?? 0) * 1000,
                    firstMs: gpuTimes[0] * 1000, maxAbsError: worst),
                Row(model: config.name, backend: "webnn", device: "CPU, OpenBLAS \(openblasThreads()) threads, \(OpenBLASSpin.description)",
                    medianMs: median(Array(cpuTimes.dropFirst())) * 1000, minMs: (cpuTimes.dropFirst().min() ?? 0) * 1000,
                    firstMs: cpuTimes[0] * 1000, maxAbsError: 0),
            ]
            var profile: DispatchBreakdown?
            if breakdown {
                // A second context whose batches carry timestamps, so the timed runs above carry none.
                let profiled = try GPUModelContext(channel: channel, config: config, kernels: context.kernels, timestamps: true)
                for c in config.components { try profiled.load(c, from: weights) }
                let samples = try (0...runs).map { _ in
                    var state = try ActivationState.initial(input, config: config)
                    return try profiled.run(config.components, state: &state).gpuSeconds
                }
                profile = DispatchBreakdown(runs: Array(samples.dropFirst()))
            }
            if json {
                struct Out: Encodable {
                    let forward: [Row]; let runs: Int; let mesaShaderCache: String; let sequenceLength: Int
                    let breakdown: DispatchBreakdown?
                }
                print(try jsonString(Out(forward: rows, runs: runs, mesaShaderCache: mesaCacheState(),
                                         sequenceLength: config.sequenceLength, breakdown: profile)))
                try finishValidation(instance)
                return
            }
            print("forward of \(config.name) (\(config.numLayers) layers, sequence \(config.sequenceLength)), \(runs) timed runs after a warm-up · Mesa shader cache: \(mesaCacheState())")
            for r in rows {
                print(String(format: "  %@  median %8.1f ms · min %8.1f ms · first %8.1f ms · max abs vs reference %.1e · %@",
                             r.backend.padding(toLength: 6, withPad: " ", startingAt: 0), r.medianMs, r.minMs, r.firstMs,
                             Double(r.maxAbsError), r.device))
            }
            if let profile { print(profile.printed()) }
            try finishValidation(instance)
        }
    }
}
