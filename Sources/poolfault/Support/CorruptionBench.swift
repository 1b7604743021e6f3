import Foundation
import Transformer
import TransformerGPU
import VulkanCompute

/// `bench corruption`'s trials: seeded corruptions of the weights on one device, each met by
/// every detector asked for, then restored from the source; and as many clean runs, where no
/// detector may fire. Coverage is counted over all corruptions and over those that changed the
/// model's output beyond the pool's tolerance (max abs 1e-4, relative L2 2e-5).
struct CorruptionBench {
    let config: ModelConfig
    let weights: WeightStore
    let cpu: CPUReference
    /// Holds the weights with the checks asked for.
    let context: GPUModelContext
    let detectors: [CorruptionDetector]
    let magnitudes: [CorruptionMagnitude]
    let seed: UInt64

    struct Trial: Encodable {
        let index: Int
        let component: String
        let tensor: String
        let magnitude: String
        let row: Int
        let elements: Int
        let flips: Int
        let largestChange: Double
        /// The model's output against the CPU reference's, with the corruption in place.
        let outputChanged: Bool
        let outputMaxAbs: Double
        /// Detector → whether it caught this corruption, and how long after the injection.
        let caught: [String: Bool]
        let latencyMs: [String: Double]
    }

    struct Clean: Encodable {
        let runs: Int
        /// Detector → clean runs on which it fired (must be 0).
        let falsePositives: [String: Int]
        /// The checksums' worst ratio to their rounding bound on a clean run (1 is the bound).
        let worstChecksumRatio: Double?
    }

    /// Every tensor of the model with its component, for a draw weighted by size (corruption
    /// strikes memory, so a tensor's chance is its share of the bytes).
    private var tensors: [(component: ModelComponent, name: String, count: Int)] {
        config.components.flatMap { c in c.parameters(in: config).map { (c, $0.name, $0.count) } }
    }

    func corrupted(trials: Int, progress: (String) -> Void) throws -> [Trial] {
        let input = ModelInput.seeded(config: config, seed: seed)
        let reference = try cpu.forward(input)
        let all = tensors, total = all.reduce(0) { $0 + $1.count }
        var out: [Trial] = []
        for t in 0..<trials {
            progress("corruption \(t + 1)/\(trials)")
            var random = Xoshiro256StarStar(seed: seed &+ 0x5DC &+ UInt64(t))
            var pick = random.nextInt(below: total)
            let target = all.first { pick -= $0.count; return pick < 0 } ?? all[all.count - 1]
            let magnitude = magnitudes[t % magnitudes.count]
            let injected = ContinuousClock.now
            let record = try context.corrupt(target.component, CorruptionSpec(magnitude: magnitude, seed: random.next(), tensor: target.name))
            var caught: [String: Bool] = [:], latency: [String: Double] = [:]
            var state = try ActivationState.initial(input, config: config)
            let stats = try context.run(config.components, state: &state, enforcingChecksums: false)
            let forwardDone = ContinuousClock.now
            let comparison = state.output.compared(to: reference).lastHiddenState
            let changed = !comparison.passes()
            if detectors.contains(.checksum) {
                caught["checksum"] = stats.checksumFinding != nil
                latency["checksum"] = (forwardDone - injected).seconds * 1000
            }
            if detectors.contains(.reference) {
                caught["reference"] = changed  // the comparison is the reference check
                latency["reference"] = (ContinuousClock.now - injected).seconds * 1000
            }
            if detectors.contains(.scrub) {
                let scrubStart = ContinuousClock.now
                let report = try context.scrub()
                caught["scrub"] = report.findings.contains { $0.tensor == record.tensor }
                // As if a scrub began at the injection: its own duration.
                latency["scrub"] = (ContinuousClock.now - scrubStart).seconds * 1000
            }
            try context.load(target.component, from: weights)
            out.append(Trial(index: t, component: target.component.id, tensor: record.tensor, magnitude: magnitude.rawValue, row: record.row,
                             elements: record.elements, flips: record.flips, largestChange: record.largestChange, outputChanged: changed,
                             outputMaxAbs: Double(comparison.maxAbs), caught: caught, latencyMs: latency))
        }
        return out
    }

    /// `runs` clean forwards on different inputs (and a scrub after each): every detector must stay quiet.
    func clean(runs: Int, progress: (String) -> Void) throws -> Clean {
        var falsePositives = Dictionary(uniqueKeysWithValues: detectors.map { ($0.rawValue, 0) })
        var worst: Double?
        for r in 0..<runs {
            progress("clean \(r + 1)/\(runs)")
            let input = ModelInput.seeded(config: config, seed: seed &+ 10_000 &+ UInt64(r))
            let reference = try cpu.forward(input)
            var state = try ActivationState.initial(input, config: config)
            let stats = try context.run(config.components, state: &state, enforcingChecksums: false)
            if detectors.contains(.checksum) {
                if stats.checksumFinding != nil { falsePositives["checksum", default: 0] += 1 }
                worst = Numerics.worst([worst ?? 0] + (try context.checksumRatios(of: config.components).values))
            }
            if detectors.contains(.reference), !state.output.compared(to: reference).lastHiddenState.passes() {
                falsePositives["reference", default: 0] += 1
            }
            if detectors.contains(.scrub), !(try context.scrub().findings.isEmpty) { falsePositives["scrub", default: 0] += 1 }
        }
        return Clean(runs: runs, falsePositives: falsePositives, worstChecksumRatio: worst)
    }
}

/// Per detector, over the trials.
struct DetectorCoverage: Encodable {
    let detector: String
    let corruptions: Int
    let detected: Int
    /// Of the corruptions that changed the output beyond tolerance.
    let changed: Int
    let detectedOfChanged: Int
    let coverageAll: Double
    let coverageChanged: Double?
    let latencyP50Ms: Double
    let latencyP99Ms: Double
    let falsePositives: Int

    init(_ detector: String, trials: [CorruptionBench.Trial], falsePositives: Int) {
        self.detector = detector
        corruptions = trials.count
        detected = trials.filter { $0.caught[detector] == true }.count
        changed = trials.filter(\.outputChanged).count
        detectedOfChanged = trials.filter { $0.outputChanged && $0.caught[detector] == true }.count
        coverageAll = corruptions == 0 ? 0 : Double(detected) / Double(corruptions)
        coverageChanged = changed == 0 ? nil : Double(detectedOfChanged) / Double(changed)
        var samples = Samples()
        for t in trials where t.caught[detector] == true { if let ms = t.latencyMs[detector] { samples.add(ms / 1000) } }
        latencyP50Ms = samples.ms(50)
        latencyP99Ms = samples.ms(99)
        self.falsePositives = falsePositives
    }
}
