import Foundation
import Testing
import Transformer
@testable import ResourcePool
@testable import VulkanCompute

/// The scripted engine is only worth its schedules if the pool does on it what it does on real
/// engines. A slice of scenarios (every injected fault × every strategy × pool shapes × seeds)
/// runs on both — scripted, and lavapipe devices with the validation layer on — and must give
/// the same verdict, the same recovery steps in the same order on the same contexts, and the
/// same routes; a difference names the first step that differs.
extension PoolSuite {
    @Suite struct FaithfulnessTests {
        /// Steps that start an engine: named by how it is made (a VkDevice has four), not by what recovery decides.
        static let startSteps: Set<String> = ["device_query", "device_creation", "queue_creation", "pipeline_creation",
                                              "process_spawn", "weight_mapping", "instance_creation"]

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
        }

        static func trace(_ c: Case, scripted: Bool) throws -> (Trace, VulkanInstance?) {
            var configuration = PoolConfiguration()
            configuration.browsers = c.browsers
            configuration.seed = c.seed
            configuration.breakerCooldown = .infinity
            configuration.retry.baseDelay = 0
            let instance: VulkanInstance?
            let environment: GPUEnvironment
            if scripted {
                instance = nil
                // lavapipe's memory is host-visible: an upload maps it and needs no queue.
                environment = GPUEnvironment(scripted: Script(faults: [:], uploadsNeedQueue: false), config: PoolHarness.config, weights: PoolHarness.weights,
                                             cpu: PoolHarness.cpu)
            } else {
                if ProcessInfo.processInfo.environment["VK_DRIVER_FILES"] == nil { setenv("VK_DRIVER_FILES", PoolHarness.lavapipe, 0) }
                let made = try VulkanInstance(validation: true)
                instance = made
                environment = try GPUEnvironment(instance: made, selection: DeviceSelection(), config: PoolHarness.config,
                                                 weights: PoolHarness.weights, cpu: PoolHarness.cpu)
            }
            let pool = try Pool(configuration: configuration, environment: environment)
            defer { pool.shutdown() }
            _ = try pool.initialize()
            var trace = Trace()
            _ = try pool.infer(PoolHarness.input)
            let fault = try FaultInjector.inject(c.fault, into: pool)
            for _ in 1...2 { _ = try pool.infer(PoolHarness.input) }
            let recovery = pool.recover(using: c.strategy)
            trace.success = recovery.success
            trace.steps = recovery.steps.filter { !startSteps.contains($0.name) }.map { "\($0.name)@\($0.context)" }
            trace.targets = FaultInjector.observed(fault, in: pool).targets
            let after = try pool.infer(PoolHarness.input)
            #expect(after.matchesReference, "\(c) \(scripted ? "scripted" : "lavapipe"): \(after.comparison)")
            trace.routes = after.route
            return (trace, instance)
        }

        @Test(arguments: cases)
        func theScriptedEngineDecidesAsARealOne(_ c: Case) throws {
            let (scripted, _) = try Self.trace(c, scripted: true)
            let (real, instance) = try Self.trace(c, scripted: false)
            let first = zip(scripted.steps, real.steps).enumerated().first { $0.element.0 != $0.element.1 }
            #expect(scripted.steps == real.steps,
                    "\(c): first differing step \(first.map { "#\($0.offset): scripted \($0.element.0), lavapipe \($0.element.1)" } ?? "(one is longer)")\nscripted \(scripted.steps)\nlavapipe \(real.steps)")
            #expect(scripted.success == real.success && scripted.routes == real.routes && scripted.targets == real.targets,
                    "\(c): scripted \(scripted), lavapipe \(real)")
            let messages = instance?.validationLog?.drain() ?? []
            #expect(messages.isEmpty, "validation: \(messages.prefix(3).map(\.description))")
        }
    }
}
