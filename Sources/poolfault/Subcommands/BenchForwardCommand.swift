import ArgumentParser
import Foundation
import Transformer
import TransformerGPU
import VulkanCompute

/// `poolfault bench forward`: median whole-model forward latency per backend.
struct BenchForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Median forward latency: webgpu (Vulkan) and webnn (CPU, oneDNN), same model and input.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var deviceOptions: DeviceOptions

    @Option(help: "Timed forwards per backend (after one warm-up).")
    var runs = 5

    @Flag(help: "Print {\"forward\": [...]} as JSON.")
    var json = false

    @Flag(help: "Also time every dispatch (GPU timestamps, on a second context) and show where the webgpu forward's time goes.")
    var breakdown = false

    @Flag(name: .customLong("vs-pytorch"), help: "Also time PyTorch's forward of the same model, weights, input and threads (a Python child, alternating with ours) and print the ratios; says how to install torch when it cannot be imported.")
    var vsPytorch = false

    @Option(help: "The Python that --vs-pytorch runs (default: $POOLFAULT_PYTHON, else python3).")
    var python = ProcessInfo.processInfo.environment["POOLFAULT_PYTHON"] ?? "python3"

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
            let reference = try cpu.forward(input)

            let (instance, physical) = try deviceOptions.open(logger: Logs.logger("bench"))
            let device = try ComputeDevice(physical: physical, label: "bench")
            let channel = try Channel(device: device, label: "bench")
            let context = try GPUModelContext(channel: channel, config: config, kernels: try GPUKernels(device: device, config: config))
            for c in config.components { try context.load(c, from: weights) }

            var pytorch: PyTorchForward?, pytorchSkipped: String?, scratch: ScratchDirectory?
            if vsPytorch {
                if let missing = PyTorchForward.missingModules(python: python) {
                    pytorchSkipped = missing
                } else {
                    scratch = try ScratchDirectory("vs-pytorch")
                    pytorch = try PyTorchForward(python: python, weights: weights, input: input, reference: reference,
                                                 threads: CPUReference.threads, directory: scratch!.url)
                }
            }
            // The child first (EOF, then wait for its pid), then its files.
            defer { pytorch?.close(); withExtendedLifetime(scratch) {} }

            // One warm-up each, then the backends alternate run by run: a shared host's noise
            // hits them alike, and no backend always runs with the caches the previous one left.
            var worst: Float = 0
            func gpuForward() throws -> Double {
                var state = try ActivationState.initial(input, config: config)
                let t = try time { try context.run(config.components, state: &state) }
                worst = max(worst, state.output.compared(to: reference).lastHiddenState.maxAbs)
                return t
            }
            // With PyTorch in the rotation, a pause between forwards (not a stand-in for work, and
            // outside every timed span): PyTorch's OpenMP workers spin for ~300,000 pauses (several
            // ms) after each parallel region, and the backend timed next would pay for them
            // (measured: webnn 121 → 128 ms without it).
            func settle() { if pytorch != nil { Thread.sleep(forTimeInterval: 0.02) } }
            var cpuTimes: [Double] = [], gpuTimes: [Double] = [], torchTimes: [Double] = []
            for _ in 0...runs {
                cpuTimes.append(try time { _ = try cpu.forward(input) })
                settle()
                gpuTimes.append(try gpuForward())
                guard let pytorch else { continue }
                settle()
                torchTimes.append(try pytorch.forward())
                settle()
            }
            func row(_ backend: String, _ device: String, _ times: [Double], error: Float) -> Row {
                Row(model: config.name, backend: backend, device: device, medianMs: median(Array(times.dropFirst())) * 1000,
                    minMs: (times.dropFirst().min() ?? 0) * 1000, firstMs: times[0] * 1000, maxAbsError: error)
            }
            var rows = [
                row("webgpu", "\(physical.info.name) (\(context.kernels.family.rawValue) GEMM)", gpuTimes, error: worst),
                row("webnn", "CPU, \(CPUReference.linearKernels), \(ThreadPoolSpin.openMP)", cpuTimes, error: 0),
            ]
            if let ready = pytorch?.ready {
                rows.append(row("pytorch", "CPU, torch \(ready.torch), transformers \(ready.transformers), \(ready.threads) threads, \(ready.attention) attention\(ready.waitPolicy.map { ", OMP_WAIT_POLICY=\($0)" } ?? "")",
                                torchTimes, error: Float(ready.maxAbsVsReference)))
            }
            let comparison = rows.count == 3 ? PyTorchComparison(webgpu: rows[0].medianMs, webnn: rows[1].medianMs, pytorch: rows[2].medianMs) : nil
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
                    let breakdown: DispatchBreakdown?; let vsPytorch: PyTorchComparison?; let pytorchSkipped: String?
                }
                print(try jsonString(Out(forward: rows, runs: runs, mesaShaderCache: mesaCacheState(),
                                         sequenceLength: config.sequenceLength, breakdown: profile, vsPytorch: comparison,
                                         pytorchSkipped: pytorchSkipped)))
                try finishValidation(instance)
                return
            }
            print("forward of \(config.name) (\(config.numLayers) layers, sequence \(config.sequenceLength)), \(runs) timed runs after a warm-up, backends alternating · Mesa shader cache: \(mesaCacheState())")
            for r in rows {
                print(String(format: "  %@  median %8.1f ms · min %8.1f ms · first %8.1f ms · max abs vs reference %.1e · %@",
                             r.backend.padding(toLength: 7, withPad: " ", startingAt: 0), r.medianMs, r.minMs, r.firstMs,
                             Double(r.maxAbsError), r.device))
            }
            if let comparison { print(comparison.printed()) }
            if let pytorchSkipped {
                print("  pytorch  not measured: \(pytorchSkipped)")
                print(PyTorchForward.installAdvice(python: python).split(separator: "\n").map { "           " + $0 }.joined(separator: "\n"))
            }
            if let profile { print(profile.printed()) }
            try finishValidation(instance)
        }
    }
}
