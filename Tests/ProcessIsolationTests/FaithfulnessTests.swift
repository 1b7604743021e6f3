import Foundation
import Testing
import Transformer
@testable import ResourcePool
@testable import VulkanCompute

/// The scripted engine is only worth its schedules if the pool does on it what it does on real
/// engines. A slice of scenarios (every injected fault × every strategy × pool shapes × seeds)
/// runs on both — scripted, and lavapipe with the validation layer on, in this process and in
/// browser processes — and must give the same verdict, the same recovery steps in the same
/// order on the same contexts, and the same routes; a difference names the first step that differs.
extension ProcessSuite {
    @Suite struct FaithfulnessTests {
        /// Steps named by how an engine is made or reconnected (a VkDevice has four, a process more),
        /// not by what recovery decides: compared as the contexts rebuilt and reconnected instead.
        static let engineSteps: Set<String> = ["device_query", "device_creation", "queue_creation", "pipeline_creation",
                                               "process_spawn", "weight_mapping", "instance_creation", "reconnect"]

        struct Case: CustomStringConvertible, Sendable {
            let fault: FaultKind, strategy: RecoveryStrategyKind, browsers: [String], seed: UInt64
            var description: String { "\(fault.rawValue)/\(strategy.rawValue) on \(browsers.joined(separator: ",")) seed \(seed)" }
        }

        static let cases: [Case] = [FaultKind.connectionLost, .componentFailure, .browserCrash, .multipleFailures, .cascadingFailure]
            .enumerated().flatMap { k, fault in
                RecoveryStrategyKind.allCases.enumerated().map { s, strategy in
                    let shapes = [["chrome", "firefox", "edge"], ["chrome", "firefox", "edge", "safari"], ["chrome", "chrome", "firefox", "edge"]]
                    return Case(fault: fault, strategy: strategy, browsers: shapes[(k + s) % shapes.count], seed: UInt64(1 + k * 3 + s))
                }
            }

        /// What a run decided, engine aside.
        struct Trace: Equatable {
            var success = false
            var steps: [String] = []
            var routes: [String] = []
            var targets: [String] = []
            var rebuilt: [String] = []
            var reconnected: [String] = []
        }

        /// `isolation` nil: scripted engines that upload as `real` does (through a socket in process
        /// isolation; by mapping lavapipe's host-visible memory in this process).
        static func trace(_ c: Case, isolation: PoolConfiguration.Isolation?, real: PoolConfiguration.Isolation) throws -> (Trace, VulkanInstance?) {
            var configuration = PoolConfiguration()
            configuration.browsers = c.browsers
            configuration.seed = c.seed
            configuration.breakerCooldown = .infinity
            configuration.retry.baseDelay = 0
            let instance: VulkanInstance?
            let environment: GPUEnvironment
            if let isolation {
                if ProcessInfo.processInfo.environment["VK_DRIVER_FILES"] == nil { setenv("VK_DRIVER_FILES", ProcessHarness.lavapipe, 0) }
                let made = try VulkanInstance(validation: true)
                instance = made
                configuration.isolation = isolation
                configuration.workerExecutable = ProcessHarness.binary.path
                environment = try GPUEnvironment(instance: made, selection: DeviceSelection(), config: ProcessHarness.config,
                                                 weights: ProcessHarness.shared.store, cpu: ProcessHarness.cpu,
                                                 sharedWeights: ProcessHarness.shared)
            } else {
                instance = nil
                environment = GPUEnvironment(scripted: Script(faults: [:], uploadsNeedQueue: real == .process), config: ProcessHarness.config,
                                             weights: ProcessHarness.shared.store, cpu: ProcessHarness.cpu)
            }
            let pool = try Pool(configuration: configuration, environment: environment)
            defer { pool.shutdown() }
            _ = try pool.initialize()
            var trace = Trace()
            _ = try pool.infer(ProcessHarness.input)
            let fault = try FaultInjector.inject(c.fault, into: pool)
            for _ in 1...2 { _ = try pool.infer(ProcessHarness.input) }
            // A killed browser's end is reaped on its own thread: settled before recovery, as the scenario runner does.
            pool.awaitEndingsReported(within: .seconds(2))
            let recovery = pool.recover(using: c.strategy)
            trace.success = recovery.success
            trace.steps = recovery.steps.filter { !engineSteps.contains($0.name) }.map { "\($0.name)@\($0.context)" }
            trace.rebuilt = recovery.contextsRebuilt
            trace.reconnected = recovery.contextsReconnected
            trace.targets = FaultInjector.observed(fault, in: pool).targets
            let after = try pool.infer(ProcessHarness.input)
            #expect(after.matchesReference, "\(c) \(isolation?.rawValue ?? "scripted"): \(after.comparison)")
            trace.routes = after.route
            if let isolation, isolation == .process {
                let pids = pool.browserProcessIDs
                pool.shutdown()
                for pid in pids { #expect(!ProcessHarness.exists(pid), "\(c): browser process \(pid) outlived its pool") }
            }
            return (trace, instance)
        }

        @Test(arguments: cases, [PoolConfiguration.Isolation.thread, .process])
        func theScriptedEngineDecidesAsARealOne(_ c: Case, isolation: PoolConfiguration.Isolation) throws {
            let (scripted, _) = try Self.trace(c, isolation: nil, real: isolation)
            let (real, instance) = try Self.trace(c, isolation: isolation, real: isolation)
            let first = zip(scripted.steps, real.steps).enumerated().first { $0.element.0 != $0.element.1 }
            #expect(scripted.steps == real.steps,
                    "\(c) \(isolation.rawValue): first differing step \(first.map { "#\($0.offset): scripted \($0.element.0), real \($0.element.1)" } ?? "(one is longer)")\nscripted \(scripted.steps)\nreal \(real.steps)")
            #expect(scripted.success == real.success && scripted.routes == real.routes && scripted.targets == real.targets
                    && scripted.rebuilt == real.rebuilt && scripted.reconnected == real.reconnected,
                    "\(c) \(isolation.rawValue): scripted \(scripted), real \(real)")
            let messages = instance?.validationLog?.drain() ?? []
            #expect(messages.isEmpty, "validation: \(messages.prefix(3).map(\.description))")
        }
    }
}
