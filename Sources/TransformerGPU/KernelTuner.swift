import Foundation
import Transformer
import VulkanCompute

/// The tuning pass: times the kernel variants that matter on this machine's device, on the
/// shapes of the models poolfault runs, and keeps the winners (the way FFTW keeps wisdom and
/// Triton autotunes). Each candidate is the kernels a context would build (`GPUKernels`), run
/// after its first dispatch (lavapipe compiles there; that time is kept, not compared), the median
/// of a few runs by GPU timestamps. A budget bounds the pass; what it did not reach keeps its default, and says so.
public enum KernelTuner {
    /// The pass's budget: candidates not begun within it are skipped.
    public static let budgetSeconds = 10.0
    /// Timed rounds per group at least, after each candidate's first dispatch.
    static let runs = 5
    /// Tile rows tried for the texel GEMM (the cost model's two; above 50 lavapipe's cold JIT
    /// outgrows any gain, `GEMMFamily.texelRows`).
    static let texelRowCandidates = [32, 50]
    static let attentionQueryCandidates = [1, 2, 4]

    /// Measures on `device` within `budget` seconds, saying each step through `progress`.
    public static func tune(on device: ComputeDevice, budget: Double = budgetSeconds,
                            progress: (String) -> Void = { _ in }) throws -> KernelChoices {
        let start = ContinuousClock.now
        let channel = try Channel(device: device, label: "tuning")
        let lanes = GPUKernels.simdLanes(device.physical.info)
        let bert = ModelConfig.bertBaseUncased, vit = ModelConfig.vitBasePatch16_224
        var measurements: [KernelChoices.Measurement] = [], skipped: [String] = []
        // A candidate begins only if it can end within the budget, were it to compile as long as
        // the costliest so far (lavapipe's cold JIT dominates a pass on a cold shader cache).
        var costliest = 0.0
        func within() -> Bool { (ContinuousClock.now - start).seconds + costliest < budget }

        /// Times a group of candidates that answer one question: each one's first dispatch,
        /// then rounds in which every candidate runs once, so a shared machine's noise falls on
        /// all alike; the median per candidate. A candidate not begun within the budget is
        /// skipped; one far slower than the rest (lavapipe's tiled GEMM) runs one round.
        func measure<T>(_ candidates: [(value: T, name: String)], flops: Double?,
                        _ build: (T) throws -> (batch: CommandBatch, release: () -> Void)) throws -> [(T, Double)] {
            var built: [(value: T, name: String, batch: CommandBatch, release: () -> Void, first: Double, times: [Double])] = []
            defer { built.forEach { $0.release() } }
            for c in candidates {
                guard within() else { skipped.append(c.name); continue }
                progress("tuning: \(c.name)")
                let firstStart = ContinuousClock.now
                let (batch, release) = try build(c.value)
                _ = try time(batch, on: channel)  // the first dispatch: lavapipe compiles here
                let first = (ContinuousClock.now - firstStart).seconds  // pipelines, operands and first dispatch
                costliest = max(costliest, first)
                built.append((c.value, c.name, batch, release, first, []))
            }
            var rounds = runs
            for round in 0..<25 where round < rounds {
                for i in built.indices where round == 0 || built[i].times[0] < 0.25 {
                    built[i].times.append(try time(built[i].batch, on: channel))
                }
                // Short candidates get more rounds (about 0.2 s of each group), so the median is
                // steadier than the few-percent differences it has to tell apart.
                if round == 0 {
                    let roundSeconds = built.map { $0.times[0] < 0.25 ? $0.times[0] : 0 }.reduce(0, +)
                    rounds = min(25, max(runs, Int(0.2 / max(roundSeconds, 1e-4))))
                }
            }
            return built.map { c in
                let median = c.times.sorted()[c.times.count / 2]
                measurements.append(.init(candidate: c.name, medianMs: median * 1000, gflops: flops.map { $0 / median / 1e9 },
                                          firstDispatchMs: c.first * 1000))
                return (c.value, median)
            }
        }

        // 1. The texel tile's rows at BERT's and ViT's sequence lengths.
        var texelRows: [Int: Int] = [:]
        for config in [bert, vit] {
            let m = config.sequenceLength, k = config.hiddenSize, n = config.intermediateSize
            let results = try measure(texelRowCandidates.map { ($0, "gemm \(m)x\(k)x\(n) texel \($0)x\(GEMMFamily.texelColumns)") },
                                      flops: 2.0 * Double(m * n * k)) { rows in
                try gemmBatch(try GPUKernels(device: device, config: config, family: .texel, texelRows: rows), m: m, n: n, k: k, channel: channel)
            }
            texelRows[m] = pick(results, default: GEMMFamily.texelRows(covering: m, lanes: lanes))
        }
        // 2. The family, on a shape both run: the texel kernel at its best tile vs shared-memory tiles.
        let (m, k, n) = (bert.sequenceLength, bert.hiddenSize, bert.hiddenSize)
        let bertRows = texelRows[m] ?? GEMMFamily.texelRows(covering: m, lanes: lanes)
        let families = try measure(GEMMFamily.allCases.map { ($0, "gemm \(m)x\(k)x\(n) \($0.rawValue)") }, flops: 2.0 * Double(m * n * k)) {
            try gemmBatch(try GPUKernels(device: device, config: bert, family: $0, texelRows: bertRows), m: m, n: n, k: k, channel: channel)
        }
        let builtIn = GEMMFamily.choose(for: device.physical.info)
        let family = families.count == GEMMFamily.allCases.count ? pick(families, default: builtIn) ?? builtIn : builtIn
        // 3. Queries per attention invocation, at BERT's sequence.
        let queries = try measure(attentionQueryCandidates.map { ($0, "attention s\(bert.sequenceLength) \($0) quer\($0 == 1 ? "y" : "ies")") },
                                  flops: nil) {
            try attentionBatch(try GPUKernels(device: device, config: bert, family: family, attentionQueries: $0, texelRows: bertRows),
                               config: bert, channel: channel)
        }
        let attentionQueries = pick(queries, default: GPUKernels.defaultAttentionQueries(device.physical.info))
        return KernelChoices(gemmFamily: family, texelRows: family == .texel ? texelRows : [:], attentionQueries: attentionQueries,
                             measurements: measurements, tunedAt: Date(), tuningSeconds: (ContinuousClock.now - start).seconds,
                             skipped: skipped)
    }

    /// A winner must beat the built-in default by more than this, so noise never flips a
    /// choice from one tuning to the next (differences under it did not repeat from run to run
    /// on a shared 2-vCPU machine).
    public static let margin = 0.10

    /// The winner among measured candidates (value, seconds): the default unless another is
    /// faster by more than `margin`; the fastest when the default was not measured; nil when
    /// nothing was.
    public static func pick<T: Equatable>(_ results: [(T, Double)], default fallback: T) -> T? {
        guard let best = results.min(by: { $0.1 < $1.1 }) else { return nil }
        guard let base = results.first(where: { $0.0 == fallback }) else { return best.0 }
        return best.1 < base.1 * (1 - margin) ? best.0 : fallback
    }

    /// Seconds one submission took (GPU timestamps where the device has them).
    static func time(_ batch: CommandBatch, on channel: Channel) throws -> Double {
        try channel.submit(batch).seconds
    }

    /// One GEMM C[M][N] = A · Wᵀ on seeded operands, recorded.
    static func gemmBatch(_ kernels: GPUKernels, m: Int, n: Int, k: Int, channel: Channel) throws -> (batch: CommandBatch, release: () -> Void) {
        var rng = Xoshiro256StarStar(seed: UInt64(m * k + n))
        let a = try upload((0..<m * k).map { _ in rng.nextSignedUnitFloat() }, kernels.device, channel)
        let bias = try upload([Float](repeating: 0, count: n), kernels.device, channel)
        let w = try kernels.weightBuffer((0..<n * k).map { _ in rng.nextSignedUnitFloat() }, rows: n, k: k, label: "tuning W", via: channel)
        let c = try DeviceBuffer(device: kernels.device, size: m * n * 4, label: "tuning C")
        let batch = try channel.record(try kernels.gemm(a, w, bias, c, m: m, n: n, k: k, label: "tuning gemm"), timestamps: true)
        return (batch, { kernels.release(); _ = (a, bias, w, c) })
    }

    /// One attention core over `config`'s sequence on seeded q, k, v, recorded.
    static func attentionBatch(_ kernels: GPUKernels, config: ModelConfig, channel: Channel) throws -> (batch: CommandBatch, release: () -> Void) {
        let count = config.sequenceLength * config.hiddenSize
        var rng = Xoshiro256StarStar(seed: UInt64(count))
        let qkv = try (0..<3).map { _ in try upload((0..<count).map { _ in rng.nextSignedUnitFloat() }, kernels.device, channel) }
        let mask = try upload([Float](repeating: 0, count: config.sequenceLength), kernels.device, channel)
        let ctx = try DeviceBuffer(device: kernels.device, size: count * 4, label: "tuning ctx")
        let step = kernels.attentionCore(q: qkv[0], k: qkv[1], v: qkv[2], mask: mask, into: ctx, config: config, label: "tuning attention")
        let batch = try channel.record([step], timestamps: true)
        return (batch, { kernels.release(); _ = (qkv, mask, ctx) })
    }

    static func upload(_ values: [Float], _ device: ComputeDevice, _ channel: Channel) throws -> DeviceBuffer {
        let buffer = try DeviceBuffer(device: device, size: values.count * 4, label: "tuning")
        try buffer.write(values, via: channel)
        return buffer
    }
}
