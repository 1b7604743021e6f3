import Foundation
import Testing
import Transformer
@testable import ResourcePool
@testable import VulkanCompute

/// A pool over lavapipe with the validation layer on, on a small BERT (6 layers of 128, so
/// three browsers hold two layers each), and the checks every test repeats.
enum PoolHarness {
    static let lavapipe = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"

    static let config = try! ModelConfig.bert(name: "pool-bert", hiddenSize: 128, numLayers: 6, numHeads: 2,
                                              intermediateSize: 256, vocabSize: 500, maxPositionEmbeddings: 32,
                                              typeVocabSize: 2, seqLen: 16)
    static let weights = try! WeightStore.seeded(config: config, seed: 11)
    static let cpu = try! CPUReference(weights: weights)

    static func makePool(seed: UInt64 = 42, browsers: [String] = ["chrome", "firefox", "edge"], webnn: Set<String> = [],
                         stagedUploads: Bool = false,
                         configure: (inout PoolConfiguration) -> Void = { _ in }) throws -> (VulkanInstance, Pool) {
        if ProcessInfo.processInfo.environment["VK_DRIVER_FILES"] == nil, FileManager.default.fileExists(atPath: lavapipe) {
            setenv("VK_DRIVER_FILES", lavapipe, 0)
        }
        let instance = try VulkanInstance(validation: true)
        var configuration = PoolConfiguration()
        configuration.browsers = browsers
        configuration.webnnBrowsers = webnn
        configuration.seed = seed
        configure(&configuration)
        let environment = try GPUEnvironment(instance: instance, selection: DeviceSelection(), config: config,
                                             weights: weights, cpu: cpu, stagedUploads: stagedUploads)
        let pool = try Pool(configuration: configuration, environment: environment)
        _ = try pool.initialize()
        return (instance, pool)
    }

    static let input = ModelInput.seeded(config: config, seed: 5)
    static let reference = try! cpu.forward(input)

    /// Runs an inference and requires it to match the CPU reference.
    @discardableResult
    static func inferMatching(_ pool: Pool, sourceLocation: SourceLocation = #_sourceLocation) throws -> InferenceResult {
        let result = try pool.infer(input)
        #expect(result.matchesReference, "output vs reference: \(result.comparison)", sourceLocation: sourceLocation)
        return result
    }

    /// Shuts `pool` down first (every context torn down, every device destroyed): the layer
    /// reports leaks at device destruction, so a check before it would miss them.
    static func expectClean(_ instance: VulkanInstance, after pool: Pool, sourceLocation: SourceLocation = #_sourceLocation) {
        pool.shutdown()
        let messages = instance.validationLog?.drain() ?? []
        #expect(messages.isEmpty, "validation: \(messages.map(\.description).joined(separator: "\n"))", sourceLocation: sourceLocation)
    }
}

/// All pool tests run one at a time (each owns three devices).
@Suite(.serialized) struct PoolSuite {}
