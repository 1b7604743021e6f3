import Foundation
import Testing
import FaultTest
@testable import ResourcePool
import Transformer
import VulkanCompute

extension ProcessSuite {
    /// The verdict sweep in process isolation: every scenario (gpu_hang included) × every
    /// strategy × seeds 1–4, each crossed with a browser set (two browsers, three, five, and one
    /// browser with two contexts in one process), a webnn browser or none, each shard type and
    /// both context modes; a third of those cells runs (every scenario and strategy among them:
    /// the pool's decisions are swept whole on scripted engines, which FaithfulnessTests holds to
    /// browser processes). Every cell passes, or is refused up front with a reason. The breaker
    /// never cools down here, so no verdict leans on time passing.
    @Suite struct ProcessSweepTests {
        static let sets = [["chrome", "firefox"], ["chrome", "firefox", "edge"], ["chrome", "chrome", "firefox", "edge"],
                           ["chrome", "firefox", "edge", "safari", "opera"]]

        struct Cell: CustomStringConvertible, Sendable {
            let seed: UInt64, scenario: FaultKind, strategy: RecoveryStrategyKind
            let browsers: [String], webnn: Set<String>, shardType: ShardType, queueMode: Bool
            var description: String {
                "\(scenario.rawValue)/\(strategy.rawValue) seed \(seed) browsers \(browsers.joined(separator: ","))"
                    + (webnn.isEmpty ? "" : " webnn \(webnn.sorted().joined(separator: ","))") + " \(shardType.rawValue) \(queueMode ? "queue" : "device")"
            }
            var configuration: PoolConfiguration {
                var c = PoolConfiguration()
                c.browsers = browsers
                c.webnnBrowsers = webnn
                c.shardType = shardType
                c.contextMode = queueMode ? .queue : .device
                c.seed = seed
                c.breakerCooldown = .infinity
                c.isolation = .process
                c.workerExecutable = ProcessHarness.binary.path
                c.watchdog = .seconds(1)
                return c
            }
        }

        /// A third of the cells, every scenario × strategy among them (at one seed or two of four).
        static let cells: [Cell] = every.filter {
            (Int($0.seed) + FaultKind.allCases.firstIndex(of: $0.scenario)! + RecoveryStrategyKind.allCases.firstIndex(of: $0.strategy)!) % 3 == 0
        }

        static let every: [Cell] = (1...4).flatMap { seed in
            FaultKind.allCases.indices.flatMap { scenario in
                RecoveryStrategyKind.allCases.indices.map { strategy in
                    let set = sets[(seed + scenario + strategy) % sets.count]
                    let webnn: Set<String> = (seed + scenario) % 3 == 2 ? [set.last!] : []
                    return Cell(seed: UInt64(seed), scenario: FaultKind.allCases[scenario], strategy: RecoveryStrategyKind.allCases[strategy],
                                browsers: set, webnn: webnn, shardType: ShardType.allCases[(seed * 2 + scenario + strategy) % 3],
                                queueMode: (seed + strategy) % 2 == 1)
                }
            }
        }

        // Test that every cell passes in process isolation or is refused up front with a reason,
        // that no browser process outlives its cell, and that no process saw a validation message.
        @Test func everyCellPassesOrIsRefusedUpFront() throws {
            let config = try ModelConfig.bert(name: "sweep-bert", hiddenSize: 64, numLayers: 5, numHeads: 2, intermediateSize: 128,
                                              vocabSize: 300, maxPositionEmbeddings: 16, typeVocabSize: 2, seqLen: 8)
            let shared = try SharedWeightFile(copying: try WeightStore.seeded(config: config, seed: 7))
            if ProcessInfo.processInfo.environment["VK_DRIVER_FILES"] == nil { setenv("VK_DRIVER_FILES", ProcessHarness.lavapipe, 0) }
            let instance = try VulkanInstance(validation: true)  // and so every worker's
            let environment = try GPUEnvironment(instance: instance, selection: DeviceSelection(), config: config, weights: shared.store,
                                                 cpu: try CPUReference(weights: shared.store), sharedWeights: shared)
            var failures: [String] = [], refused = 0, ran = 0
            for cell in Self.cells {
                if let why = cell.configuration.refusal(toHost: cell.scenario, target: .drawn) {
                    refused += 1
                    #expect(!why.isEmpty)
                    continue
                }
                ran += 1
                let runner = try ScenarioRunner(environment: environment, configuration: cell.configuration, strategy: cell.strategy)
                let (result, _) = runner.run(cell.scenario)
                if !result.overallSuccess {
                    let failed = result.phases.filter { !$0.result.success }.map { "\($0.name.rawValue): \($0.result.message)" }
                    failures.append("\(cell): " + failed.joined(separator: "; "))
                }
                if cell.scenario != .componentFailure {
                    #expect(result.fault?.simulated == false || cell.scenario == .multipleFailures, "\(cell): the fault was real")
                }
            }
            #expect(failures.isEmpty, "\(failures.count) of \(ran) cells failed:\n\(failures.prefix(10).joined(separator: "\n"))")
            #expect(refused < Self.cells.count / 3, "refused \(refused)")
            #expect(Set(Self.cells.map { "\($0.scenario)/\($0.strategy)" }).count == FaultKind.allCases.count * RecoveryStrategyKind.allCases.count,
                    "the slice meets every scenario with every strategy")
            #expect(ProcessSpawner.shared.waitForNone(timeout: .seconds(5)), "no browser process outlived its cell")
            let messages = instance.validationLog?.drain() ?? []
            #expect(messages.isEmpty, "validation: \(messages.prefix(3).map(\.description))")
        }
    }
}
