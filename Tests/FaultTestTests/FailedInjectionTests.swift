import Foundation
import Testing
import FaultTest
@testable import ResourcePool
import Transformer

/// An injection that fails part-way — a gpu_hang whose fault-control request misses its deadline
/// drops the context's connection on the way, as a browser process's does — must leave the pool
/// whole for the next fault: the soak repairs what the failed injection broke, says so in the
/// fault's message, and nothing turns up later as an unplanned loss. On scripted engines, so
/// every injection fails the same way on any machine.
@Suite struct FailedInjectionTests {
    static let config = VerdictSweepTests.config
    static let weights = VerdictSweepTests.weights
    static let cpu = VerdictSweepTests.cpu

    @Test(arguments: RecoveryStrategyKind.allCases)
    func aFailedInjectionLeavesThePoolWhole(strategy: RecoveryStrategyKind) throws {
        var configuration = PoolConfiguration()
        configuration.browsers = ["chrome", "firefox", "edge"]
        configuration.breakerCooldown = .infinity
        configuration.isolation = .process  // gpu_hang's (the scripted engines spawn nothing)
        let environment = GPUEnvironment(scripted: Script(faults: [:], faultControlMissesItsDeadline: true),
                                         config: Self.config, weights: Self.weights, cpu: Self.cpu)
        let plan = SoakPlan(duration: .seconds(3600), clients: 2, faultInterval: .milliseconds(20), faults: [.gpuHang], strategy: strategy,
                            seed: 5, requests: 40, faultCount: 3)
        let result = try SoakRunner(environment: environment, configuration: configuration, plan: plan).run()
        #expect(result.faults.count == 3, "only the planned faults: \(result.faults.map(\.kind))")
        for fault in result.faults {
            #expect(fault.kind == "gpu_hang" && fault.planned && !fault.recovered, "\(fault)")
            #expect(fault.message.contains("could not inject") && fault.message.contains("fault-control request")
                    && fault.message.contains("the pool afterwards: Recovery succeeded"), "\(fault.message)")
        }
        #expect(result.degradedAtEnd.isEmpty, "\(result.degradedAtEnd)")
        #expect(result.requests.allSatisfy { $0.outcome == .ok },
                "\(result.requests.filter { $0.outcome != .ok }.prefix(3))")
    }
}
