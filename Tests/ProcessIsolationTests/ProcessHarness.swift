import Foundation
import Testing
import Transformer
@testable import ResourcePool
@testable import VulkanCompute

/// Pools in process isolation over lavapipe: every browser a `poolfault` worker process (the
/// binary SwiftPM built beside this bundle), the validation layer on in each (a message in any
/// worker fails the test), on a small BERT.
enum ProcessHarness {
    static let lavapipe = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"

    /// POOLFAULT_BIN, else the products folder of this test bundle (…/debug/poolfault).
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["POOLFAULT_BIN"] { return URL(fileURLWithPath: path) }
        var dir = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("poolfault").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("poolfault")
    }

    static let config = try! ModelConfig.bert(name: "process-bert", hiddenSize: 128, numLayers: 6, numHeads: 2,
                                              intermediateSize: 256, vocabSize: 500, maxPositionEmbeddings: 32,
                                              typeVocabSize: 2, seqLen: 16)
    /// The weights in shared memory, as the CLI does it: one copy for this process and every worker.
    static let shared = try! SharedWeightFile(copying: try! WeightStore.seeded(config: config, seed: 11))
    static let cpu = try! CPUReference(weights: shared.store)
    static let input = ModelInput.seeded(config: config, seed: 5)
    static let reference = try! cpu.forward(input)

    static func makePool(seed: UInt64 = 42, browsers: [String] = ["chrome", "firefox", "edge"],
                         configure: (inout PoolConfiguration) -> Void = { _ in }) throws -> (VulkanInstance, Pool) {
        if ProcessInfo.processInfo.environment["VK_DRIVER_FILES"] == nil, FileManager.default.fileExists(atPath: lavapipe) {
            setenv("VK_DRIVER_FILES", lavapipe, 0)
        }
        let instance = try VulkanInstance(validation: true)  // and so every worker's
        var configuration = PoolConfiguration()
        configuration.browsers = browsers
        configuration.seed = seed
        configuration.isolation = .process
        configuration.workerExecutable = binary.path
        configure(&configuration)
        let environment = try GPUEnvironment(instance: instance, selection: DeviceSelection(), config: config,
                                             weights: shared.store, cpu: cpu, sharedWeights: shared)
        let pool = try Pool(configuration: configuration, environment: environment)
        _ = try pool.initialize()
        return (instance, pool)
    }

    @discardableResult
    static func inferMatching(_ pool: Pool, sourceLocation: SourceLocation = #_sourceLocation) throws -> InferenceResult {
        let result = try pool.infer(input)
        #expect(result.matchesReference, "output vs reference: \(result.comparison)", sourceLocation: sourceLocation)
        return result
    }

    /// Shuts the pool down and proves it left nothing: no browser process (nor zombie), no run
    /// directory, no validation message from this process or any worker.
    static func finish(_ pool: Pool, _ instance: VulkanInstance, sourceLocation: SourceLocation = #_sourceLocation) {
        let pids = pool.browserProcessIDs
        let directory = pool.runDirectory?.path
        pool.shutdown()
        for pid in pids { #expect(!exists(pid), "browser process \(pid) outlived its pool", sourceLocation: sourceLocation) }
        if let directory { #expect(!FileManager.default.fileExists(atPath: directory), "run directory left behind", sourceLocation: sourceLocation) }
        let messages = instance.validationLog?.drain() ?? []
        #expect(messages.isEmpty, "validation: \(messages.map(\.description).joined(separator: "\n"))", sourceLocation: sourceLocation)
    }

    /// True while /proc has the pid (a zombie counts: nothing may be left unreaped).
    static func exists(_ pid: Int32) -> Bool { FileManager.default.fileExists(atPath: "/proc/\(pid)") }

    /// What this process's open descriptors point at.
    static var openDescriptors: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap {
            try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")
        }
    }

    /// The descriptors only a process-isolated pool opens: pidfds and its memfds (the shared
    /// weights, made once, and each browser's death-watch page). Other tests running at the same
    /// time open pipes and sockets of their own, so those cannot be counted here.
    static var poolDescriptors: [String] {
        openDescriptors.filter { $0.contains("pidfd") || $0.contains("memfd:poolfault-deathwatch") }
    }
}

/// Every process-isolation test runs alone: each owns browser processes on a 2-core machine.
@Suite(.serialized) struct ProcessSuite {}
