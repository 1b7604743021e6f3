// Timings of the full-size models, off by default (they are a benchmark, not a test):
//   TRANSFORMER_BENCHMARK=1 swift test -c release --scratch-path .build-transformer \
//       --filter CPUBenchmark
// Prints the median of several runs for seeded weight generation and each forward.

import Foundation
import Testing
import Transformer

private let benchmarkEnabled = ProcessInfo.processInfo.environment["TRANSFORMER_BENCHMARK"] != nil

@Suite(.serialized, .enabled(if: benchmarkEnabled, "set TRANSFORMER_BENCHMARK=1 (release build) to run"))
struct CPUBenchmark {
    private func median(_ runs: Int, _ body: () throws -> Void) rethrows -> Double {
        var times: [Double] = []
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        return times.sorted()[times.count / 2]
    }

    private var threads: String { ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] ?? "default" }

    @Test func seededWeightGeneration() throws {
        let ms = try median(5) { _ = try WeightStore.seeded(config: .bertBaseUncased, seed: 1) }
        print("benchmark: seeded bert-base-uncased weights (109.5M params): median \(String(format: "%.1f", ms)) ms")
    }

    @Test(arguments: [ModelConfig.bertBaseUncased, .vitBasePatch16_224])
    func forward(config: ModelConfig) throws {
        let reference = try CPUReference(weights: try WeightStore.seeded(config: config, seed: 1))
        let input = ModelInput.seeded(config: config, seed: 2)
        _ = try reference.forward(input)  // warm-up: page in weights, spin up BLAS threads
        let ms = try median(7) { _ = try reference.forward(input) }
        print("benchmark: \(config.name) CPU forward (seq \(config.sequenceLength)): median \(String(format: "%.1f", ms)) ms, OPENBLAS_NUM_THREADS=\(threads)")
    }

    /// Where a forward's time goes: one component of each kind, median of several runs.
    @Test(arguments: [ModelConfig.bertBaseUncased, .vitBasePatch16_224])
    func componentBreakdown(config: ModelConfig) throws {
        let reference = try CPUReference(weights: try WeightStore.seeded(config: config, seed: 1))
        var state = try ActivationState.initial(ModelInput.seeded(config: config, seed: 2), config: config)
        try reference.run(config.components, state: &state)
        let start = state
        var parts: [String] = []
        for component in [ModelComponent.embeddings, .attention(layer: 0), .feedForward(layer: 0), .pooler] {
            let ms = try median(9) {
                var copy = start
                try reference.run(component, state: &copy)
            }
            parts.append("\(component.id) \(String(format: "%.2f", ms)) ms")
        }
        print("benchmark: \(config.name) components: \(parts.joined(separator: ", "))")
    }
}
