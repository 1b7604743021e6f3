import ArgumentParser
import Foundation
import ResourcePool
import Transformer
import VulkanCompute

/// The environment every pool of a run shares. In process isolation the host weights move into
/// shared memory first, and the CPU reference reads them there: one copy of the weights however
/// many browser processes map them.
func makePoolEnvironment(instance: VulkanInstance, selection: DeviceSelection, config: ModelConfig, weights: WeightStore,
                         isolation: PoolConfiguration.Isolation) throws -> GPUEnvironment {
    guard isolation == .process else {
        return try GPUEnvironment(instance: instance, selection: selection, config: config, weights: weights,
                                  cpu: try CPUReference(weights: weights))
    }
    let shared = try SharedWeightFile(copying: weights)
    return try GPUEnvironment(instance: instance, selection: selection, config: config, weights: shared.store,
                              cpu: try CPUReference(weights: shared.store), sharedWeights: shared)
}

/// `--scenario`: one scenario, or `all` (every scenario, gpu_hang included).
enum ScenarioChoice: ExpressibleByArgument, Equatable {
    case one(FaultKind)
    case all

    init?(argument: String) {
        if argument == "all" { self = .all } else if let kind = FaultKind(rawValue: argument) { self = .one(kind) } else { return nil }
    }

    static var allValueStrings: [String] { FaultKind.allCases.map(\.rawValue) + ["all"] }

    /// The scenarios to run: the original four by default; `all` leaves out what `isolation`
    /// cannot host (gpu_hang in thread isolation), saying so.
    static func scenarios(_ choice: ScenarioChoice?, isolation: PoolConfiguration.Isolation) -> [FaultKind] {
        switch choice {
        case nil: return FaultKind.original
        case .one(let kind): return [kind]
        case .all: return FaultKind.allCases.filter { isolation == .process || !$0.needsProcess }
        }
    }
}
