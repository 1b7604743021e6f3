import Foundation
import Testing
import FaultTest
@testable import ResourcePool
import Transformer
import VulkanCompute

/// Every scenario × every strategy × seeds 1–20 on a small BERT, each cell crossed (pairwise)
/// with browser sets of 2, 3 and 5, with and without a webnn browser, each shard type and both
/// context modes. A healthy pool must never fail: every cell passes, or the configuration is
/// refused up front (`refusal(toHost:)`, the CLI's exit 64) with a reason. The whole sweep runs
/// on scripted engines (the pool's decisions, which FaithfulnessTests holds to the real ones);
/// a tenth of it runs on lavapipe, and another slice again with the other core kept busy, which
/// must give the same verdicts. The breaker's cooldown is infinite, so no verdict can lean on
/// time passing.
@Suite(.serialized) struct VerdictSweepTests {
    static let lavapipe = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"
    static let config = try! ModelConfig.bert(name: "sweep-bert", hiddenSize: 64, numLayers: 5, numHeads: 2,
                                              intermediateSize: 128, vocabSize: 300, maxPositionEmbeddings: 16,
                                              typeVocabSize: 2, seqLen: 8)
    static let weights = try! WeightStore.seeded(config: config, seed: 7)
    static let cpu = try! CPUReference(weights: weights)

    struct Cell: CustomStringConvertible {
        let seed: UInt64
        let scenario: FaultKind
        let strategy: RecoveryStrategyKind
        let browsers: [String]
        let webnn: Set<String>
        let shardType: ShardType
        let queueMode: Bool

        var description: String {
            "\(scenario.rawValue)/\(strategy.rawValue) seed \(seed) browsers \(browsers.joined(separator: ","))"
                + (webnn.isEmpty ? "" : " webnn \(webnn.sorted().joined(separator: ","))")
                + " \(shardType.rawValue) \(queueMode ? "queue" : "device")"
        }

        var configuration: PoolConfiguration {
            var c = PoolConfiguration()
            c.browsers = browsers
            c.webnnBrowsers = webnn
            c.shardType = shardType
            c.contextMode = queueMode ? .queue : .device
            c.allowSharedQueues = true  // lavapipe has one queue: contexts share it
            c.seed = seed
            c.breakerCooldown = .infinity
            return c
        }

        /// The browser set, webnn choice, shard type and mode of a cell: a mix of seed,
        /// scenario and strategy that covers every pair of factor values (checked below).
        static func make(seed: Int, scenario: Int, strategy: Int) -> Cell {
            let sets = [["chrome", "firefox"], ["chrome", "firefox", "edge"], ["chrome", "firefox", "edge", "safari", "opera"]]
            let set = sets[(seed + scenario + strategy) % 3]
            let webnn = (seed + scenario + seed / 3) % 2 == 1 ? [set.last!] : []
            let shard = ShardType.allCases[(seed * 2 + scenario + strategy * 2 + seed / 2) % 3]
            let queue = (seed / 2 + scenario + strategy) % 2 == 1
            return Cell(seed: UInt64(seed), scenario: FaultKind.allCases[scenario], strategy: RecoveryStrategyKind.allCases[strategy],
                        browsers: set, webnn: Set(webnn), shardType: shard, queueMode: queue)
        }

        var factors: [String] {
            [scenario.rawValue, strategy.rawValue, "\(browsers.count)", "\(!webnn.isEmpty)", shardType.rawValue, "\(queueMode)"]
        }
    }

    static let cells: [Cell] = (1...20).flatMap { seed in
        (0..<4).flatMap { scenario in (0..<3).map { Cell.make(seed: seed, scenario: scenario, strategy: $0) } }
    }

    /// Runs one cell on a fresh pool over lavapipe; nil when it passed or was refused up front.
    static func failure(of cell: Cell, instance: VulkanInstance) throws -> String? {
        let environment = try GPUEnvironment(instance: instance, selection: DeviceSelection(), config: config,
                                             weights: weights, cpu: cpu)
        return try failure(of: cell, on: environment, configuration: cell.configuration)
    }

    /// Runs one cell on scripted engines. Queue mode is a Vulkan arrangement (contexts sharing
    /// one device); a scripted context is its own engine either way, so the cell runs in device mode.
    static func scriptedFailure(of cell: Cell) throws -> String? {
        var configuration = cell.configuration
        configuration.contextMode = .device
        let environment = GPUEnvironment(scripted: Script(faults: [:]), config: config, weights: weights, cpu: cpu)
        return try failure(of: cell, on: environment, configuration: configuration)
    }

    static func failure(of cell: Cell, on environment: GPUEnvironment, configuration: PoolConfiguration) throws -> String? {
        if configuration.refusal(toHost: cell.scenario, target: .drawn) != nil { return nil }
        let runner = try ScenarioRunner(environment: environment, configuration: configuration, strategy: cell.strategy)
        let (result, _) = runner.run(cell.scenario)
        guard !result.overallSuccess else { return nil }
        let failed = result.phases.filter { !$0.result.success }.map { "\($0.name.rawValue): \($0.result.message)" }
        return "\(cell): " + failed.joined(separator: "; ")
    }

    static func openInstance() throws -> VulkanInstance {
        if ProcessInfo.processInfo.environment["VK_DRIVER_FILES"] == nil, FileManager.default.fileExists(atPath: lavapipe) {
            setenv("VK_DRIVER_FILES", lavapipe, 0)
        }
        return try VulkanInstance(validation: true)
    }

    // Test that the sweep's design covers every pair of factor values at least once.
    @Test func theSweepCoversEveryPairOfFactors() {
        let rows = Self.cells.map(\.factors)
        let values = (0..<6).map { i in Set(rows.map { $0[i] }) }
        #expect(values.map(\.count) == [4, 3, 3, 2, 3, 2])
        for i in 0..<6 {
            for j in (i + 1)..<6 {
                let seen = Set(rows.map { "\($0[i])|\($0[j])" })
                #expect(seen.count == values[i].count * values[j].count, "factors \(i),\(j): \(seen.count) pairs")
            }
        }
    }

    // Test that every cell of the sweep passes or is refused up front with a reason (on scripted engines).
    @Test func everyCellPassesOrIsRefusedUpFront() throws {
        var failures: [String] = []
        var refused = 0
        for cell in Self.cells {
            if let why = cell.configuration.refusal(toHost: cell.scenario, target: .drawn) {
                refused += 1
                #expect(!why.isEmpty)
                continue
            }
            if let failure = try Self.scriptedFailure(of: cell) { failures.append(failure) }
        }
        #expect(failures.isEmpty, "\(failures.count) of \(Self.cells.count) cells failed:\n\(failures.prefix(10).joined(separator: "\n"))")
        #expect(refused < Self.cells.count / 4, "refused \(refused)")
    }

    // Test that a tenth of the cells, every scenario, strategy and factor among them, passes on
    // lavapipe with the validation layer on, as on scripted engines.
    @Test func aTenthOfTheCellsPassesOnLavapipe() throws {
        let instance = try Self.openInstance()
        let slice = Self.cells.enumerated().filter { $0.offset % 10 == 7 }.map(\.element)
        #expect(Set(slice.flatMap(\.factors)) == Set(Self.cells.flatMap(\.factors)), "the slice meets every factor value")
        var failures: [String] = []
        for cell in slice {
            if let failure = try Self.failure(of: cell, instance: instance) { failures.append(failure) }
        }
        #expect(failures.isEmpty, "\(failures.count) of \(slice.count) cells failed:\n\(failures.prefix(10).joined(separator: "\n"))")
        let messages = instance.validationLog?.drain() ?? []
        #expect(messages.isEmpty, "validation: \(messages.prefix(3).map(\.description))")
    }

    // Test that verdicts do not change when the machine is slowed: a slice of the sweep again,
    // with a thread keeping the other core busy the whole time.
    @Test func verdictsHoldWithTheOtherCoreBusy() throws {
        let instance = try Self.openInstance()
        let busy = BusyCore()
        busy.start()
        defer { busy.stop() }
        let slice = Self.cells.enumerated().filter { $0.offset % 20 == 3 }.map(\.element)
        var failures: [String] = []
        for cell in slice {
            if let failure = try Self.failure(of: cell, instance: instance) { failures.append(failure) }
        }
        #expect(busy.spins > 0, "the busy thread ran")
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        let messages = instance.validationLog?.drain() ?? []
        #expect(messages.isEmpty, "validation: \(messages.prefix(3).map(\.description))")
    }

    // Test that what the sweep refuses, the injector refuses too (no fault on a pool that cannot host it).
    @Test func refusedConfigurationsAreRefusedByTheInjector() throws {
        let instance = try Self.openInstance()
        var configuration = PoolConfiguration()
        configuration.browsers = ["chrome", "firefox"]
        let environment = try GPUEnvironment(instance: instance, selection: DeviceSelection(), config: Self.config,
                                             weights: Self.weights, cpu: Self.cpu)
        let pool = try Pool(configuration: configuration, environment: environment)
        defer { pool.shutdown() }
        _ = try pool.initialize()
        #expect(throws: PoolError.self) { try FaultInjector.inject(.multipleFailures, into: pool) }
        #expect(throws: PoolError.self) { try FaultInjector.inject(.connectionLost, into: pool, target: .index(2)) }
        #expect(throws: PoolError.self) { try FaultInjector.inject(.connectionLost, into: pool, target: .named("")) }
        #expect(pool.contexts.allSatisfy { $0.state == .ready }, "a refused fault tears nothing down")
    }
}

/// A thread that spins until stopped: the other core, kept busy.
final class BusyCore: @unchecked Sendable {  // `running` and `count` under `lock`
    private let lock = NSLock()
    private var running = false
    private var count = 0
    private var thread: Thread?

    var spins: Int { lock.withLock { count } }

    func start() {
        lock.withLock { running = true }
        let t = Thread { [self] in
            var x = 1.0
            while lock.withLock({ running }) {
                for i in 0..<100_000 { x = x * 1.000001 + Double(i & 1) }
                lock.withLock { count += 1 }
            }
            if x == 0 { print(x) }  // keeps the loop from being optimised away
        }
        thread = t
        t.start()
    }

    func stop() { lock.withLock { running = false } }
}
