import ArgumentParser
import Foundation
import Transformer
import TransformerGPU
import VulkanCompute

/// `poolfault infer`: one forward pass on one backend, checked against the CPU reference, with
/// the last hidden state written as .npy (to compare with Hugging Face in Python).
struct InferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Run one forward pass (webgpu = Vulkan, webnn = CPU) and compare it with the CPU reference.")

    enum Backend: String, ExpressibleByArgument, CaseIterable { case webgpu, webnn }

    @OptionGroup var model: ModelOptions
    @OptionGroup var deviceOptions: DeviceOptions

    @Option(help: "Input with Hugging Face names (input_ids, attention_mask, token_type_ids or pixel_values): .npz (np.savez of a tokenizer's or image processor's output), .npy (one tensor), .safetensors, or JSON (nested arrays, or a flat array with a shape). Its length sets the sequence length. Default: a seeded input.")
    var input: String?

    @Option(help: "Backend: webgpu (Vulkan compute) or webnn (the CPU reference path).")
    var backend: Backend = .webgpu

    @Option(help: "Where to write last_hidden_state, float32 .npy of shape [1, S, H].")
    var output: String

    @Option(help: "Where to write pooler_output, float32 .npy of shape [1, H].")
    var poolerOutput: String?

    @Option(help: "webgpu: checksummed Linear layers, so a wrong product or corrupted weights fail the forward (on, off).")
    var abft: Switch = .on

    /// Testing the checks: corrupt this component's weights on the device after they are
    /// uploaded (a silent corruption the forward must not pass).
    @Option(help: .hidden)
    var corrupt: String?

    @Option(help: .hidden)
    var corruption = "gross,persistent"

    func validate() throws {
        if let poolerOutput, URL(fileURLWithPath: poolerOutput).standardized == URL(fileURLWithPath: output).standardized {
            throw ValidationError("--output and --pooler-output are the same file (\(output)): one would overwrite the other")
        }
        if let corrupt, ModelComponent(id: corrupt) == nil { throw ValidationError("--corrupt takes a component id (layer1.attention, …), got \(corrupt)") }
    }

    func run() throws {
        try reportingErrors {
            // Every output is proven writable before the work (a forward can take seconds).
            for path in [output] + (poolerOutput.map { [$0] } ?? []) {
                if let problem = FileAccess.writeProblem(path) { throw ToolError.unwritable(path: path, reason: problem) }
            }
            let logger = Logs.logger("infer")
            // The input's own length sets the sequence (BERT), up to the model's position limit.
            let file = try input.map { try InputTensors.readFile(URL(fileURLWithPath: $0)) }
            let tensors = file?.tensors
            var inputTokens = tensors.flatMap(ModelInput.tokenCount(in:))
            if inputTokens == 0 {
                throw ModelDataError.invalidInput(source: input ?? "input", reason: "\"input_ids\" holds no tokens: an input needs at least one")
            }
            if let n = inputTokens, model.seqLen == nil {
                let limit = try model.baseConfig().maxPositionEmbeddings
                guard n <= limit else {
                    throw ModelDataError.invalidInput(source: input ?? "input", reason: "\"input_ids\" has \(n) tokens; the model's position limit is \(limit) tokens: truncate the input")
                }
            }
            if (try? model.baseConfig().kind) != .bert { inputTokens = nil }
            let (config, weights) = try model.load(inputTokens: inputTokens)
            let modelInput: ModelInput
            let inputLabel: String
            if let input, let tensors {
                modelInput = try ModelInput.from(tensors: tensors, config: config, source: input)
                inputLabel = input
                let ignored = (file?.skipped ?? []) + ModelInput.ignoredNames(in: tensors, config: config)
                if !ignored.isEmpty {
                    printError("poolfault: \(input): ignored \(ignored.sorted().joined(separator: ", ")) (\(config.name) takes \(config.kind == .bert ? "input_ids, attention_mask, token_type_ids" : "pixel_values"))")
                }
            } else {
                modelInput = ModelInput.seeded(config: config, seed: model.seed)
                inputLabel = "seeded (seed \(model.seed))"
            }
            print("model: \(config.name) (\(config.numLayers) layers, sequence \(config.sequenceLength)) · weights: \(weights.source) · input: \(inputLabel)")

            let cpu = try CPUReference(weights: weights)
            let cpuStart = ContinuousClock.now
            let reference = try cpu.forward(modelInput)
            let cpuSeconds = (ContinuousClock.now - cpuStart).seconds

            let result: ModelOutput
            var usedInstance: VulkanInstance?
            switch backend {
            case .webnn:
                result = reference
                print("backend: webnn (CPU, \(CPUReference.linearKernels)) · forward \(String(format: "%.3f", cpuSeconds)) s")
            case .webgpu:
                let (instance, physical) = try deviceOptions.open(logger: logger)
                usedInstance = instance
                let device = try ComputeDevice(physical: physical, label: "infer")
                let channel = try Channel(device: device, label: "infer")
                let kernels = try GPUKernels(device: device, config: config, integrity: IntegrityChecks(checksums: abft == .on))
                let context = try GPUModelContext(channel: channel, config: config, kernels: kernels)
                let uploadStart = ContinuousClock.now
                for c in config.components { try context.load(c, from: weights) }
                let uploadSeconds = (ContinuousClock.now - uploadStart).seconds
                if let corrupt, let component = ModelComponent(id: corrupt) {
                    let parts = corruption.split(separator: ",").map(String.init)
                    let spec = CorruptionSpec(magnitude: CorruptionMagnitude(rawValue: parts[0]) ?? .gross,
                                              persistence: parts.count > 1 ? CorruptionPersistence(rawValue: parts[1]) ?? .persistent : .persistent,
                                              seed: model.seed)
                    printError("poolfault: corrupted on purpose: \(try context.corrupt(component, spec).summary)")
                }
                var first = try ActivationState.initial(modelInput, config: config)
                let firstStats: GPUModelContext.RunStats
                do { firstStats = try context.run(config.components, state: &first) } catch let finding as CorruptionFinding {
                    printError("poolfault: the webgpu forward failed its checks: \(finding)")
                    throw ExitCode(ExitStatus.scenarioFailed)
                }
                var second = try ActivationState.initial(modelInput, config: config)
                let secondStats = try context.run(config.components, state: &second)
                if !second.output.compared(to: reference).lastHiddenState.passes() {
                    // Which component's output first goes wrong: each run alone from the reference's input to it.
                    if let (component, comparison) = try Self.firstWrong(context, cpu: cpu, input: modelInput) {
                        printError("poolfault: the webgpu output differs from the CPU reference; the first wrong output is \(component.id)'s (\(comparison))")
                    }
                }
                result = second.output
                print("backend: webgpu on \(physical.info.name) (\(physical.info.driverInfo)) · \(kernels.family.rawValue) GEMM")
                print(String(format: "setup: pipelines %.3f s (glslang %.3f s) · weights %@ uploaded in %.3f s",
                             kernels.pipelineSeconds, kernels.compileSeconds, humanBytes(UInt64(context.weightBytes)), uploadSeconds))
                print(String(format: "forward: %.3f s first (includes first-dispatch shader JIT on lavapipe) · %.3f s second · CPU reference %.3f s",
                             firstStats.seconds, secondStats.seconds, cpuSeconds))
                if first.output != second.output {
                    throw VulkanError.invalidUse("two runs of the same input differ: the GPU path is not deterministic")
                }
            }
            let (hidden, pooled) = result.compared(to: reference)
            let ok = hidden.passes() && (pooled?.passes() ?? true)
            print("vs CPU reference: last_hidden_state \(hidden)" + (pooled.map { " · pooler_output \($0)" } ?? "")
                  + (ok ? " · within max abs 1e-4, rel L2 2e-5" : " · OUTSIDE TOLERANCE"))
            try NpyWriter.write(result.lastHiddenState, shape: [1, config.sequenceLength, config.hiddenSize], to: output)
            print("wrote last_hidden_state [1, \(config.sequenceLength), \(config.hiddenSize)] to \(output)")
            if let poolerOutput {
                guard let p = result.pooledOutput else { throw ValidationError("\(config.name) has no pooler: drop --pooler-output") }
                try NpyWriter.write(p, shape: [1, config.hiddenSize], to: poolerOutput)
                print("wrote pooler_output [1, \(config.hiddenSize)] to \(poolerOutput)")
            }
            if let usedInstance { try finishValidation(usedInstance) }
            if !ok {
                printError("poolfault: the \(backend.rawValue) result differs from the CPU reference beyond tolerance")
                throw ExitCode(ExitStatus.scenarioFailed)
            }
        }
    }

    /// The first component whose output differs from the CPU reference's when it runs alone on
    /// the reference's input to it (nil when each alone matches).
    static func firstWrong(_ context: GPUModelContext, cpu: CPUReference, input: ModelInput) throws -> (ModelComponent, NumericComparison)? {
        var state = try ActivationState.initial(input, config: cpu.config)
        for c in cpu.config.components {
            var gpu = state
            try context.run([c], state: &gpu)
            try cpu.run([c], state: &state)
            let comparison = NumericComparison(actual: gpu.hidden, reference: state.hidden)
            if !comparison.passes() { return (c, comparison) }
        }
        return nil
    }
}
