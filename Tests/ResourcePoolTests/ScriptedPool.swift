import Foundation
import Testing
import Transformer
@testable import ResourcePool

/// An initialized pool on scripted engines and a virtual clock, over the simulator's tiny BERT,
/// with the reference for its shard count: what the deterministic pool tests start from.
enum ScriptedPool {
    typealias Sim = ScheduleSimulatorTests

    static func make(_ browsers: [String], script: Script = Script(faults: [:]), clock: VirtualClock = VirtualClock(),
                     configure: (inout PoolConfiguration) -> Void = { _ in }) throws -> (pool: Pool, reference: ReferenceTrace) {
        var configuration = PoolConfiguration()
        configuration.browsers = browsers
        configure(&configuration)
        let environment = GPUEnvironment(scripted: script, config: Sim.config, weights: Sim.weights, cpu: Sim.cpu)
        let pool = try Pool(configuration: configuration, environment: environment, clock: clock)
        _ = try pool.initialize()
        let reference = try #require(Sim.references[pool.plan.shards.count] ?? nil)
        return (pool, reference)
    }
}
