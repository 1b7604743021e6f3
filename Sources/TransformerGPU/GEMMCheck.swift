import Foundation
import Transformer
import VulkanCompute

/// Checksummed Linear layers (algorithm-based fault tolerance, Huang & Abraham 1984). For
/// y = x·Wᵀ + b with x [M×K], cut the N outputs into groups of B columns; summed over every row
/// and every column of group g,
///   Σ_m Σ_{j in g} y_mj = X̄ · S_g + M·Σ_{j in g} b_j,   X̄ = Σ_m x_m,  S_g = Σ_{j in g} W_j,
/// where S_g comes from the source weights (WeightIntegrity), so weights corrupted on the device,
/// or a wrong product, make the two sides disagree. The device gathers X̄ (compensated), the
/// column sums of squares c_k = Σ_m x_mk² and the group sums of y (gemm_check.comp); the test
/// is here, in double, after the run.
///
/// The bound (fp32, u = 2⁻²⁴, Vulkan's add and multiply correctly rounded). A length-K dot
/// product computed in any order errs by Σ_k s_k·δ_k to first order (s_k its partial sums,
/// |δ_k| ≤ u). With the δ independent and of mean zero (the probabilistic model of Higham & Mary,
/// SIAM J. Sci. Comput. 2019), Hoeffding's inequality bounds a sum of such terms by λ·u·√(Σ s²)
/// but with probability 2·exp(−λ²/2); and where the products x_k·w_k have no common sign, as a
/// Linear's do, each partial sum's square is at most ‖x∘w‖₂² in expectation (Higham & Mary 2020,
/// random data), so √(Σ s²) ≤ √P·‖x∘w‖₂ for a kernel whose dot product has P partial sums: the
/// tiled GEMM adds one product at a time (P = K); the texel GEMM adds 8-term dot products to its
/// accumulator (K/8 partial sums there, and 7 inside each 8-term dot: P = K/8 + 7). Every output
/// of the group rounds independently, so the GEMM's errors in the whole sum are bounded together by
///   λ·u·√P·√(Σ_m Σ_{j in g} ‖x_m∘w_j‖²) = λ·u·√P·√(Σ_k c_k·Q_gk),   Q_gk = Σ_{j in g} W_jk².
/// The bias add rounds each output once: λ·u·‖y_g‖_F. The device adds a row's B outputs of the
/// group with each of its L lanes summing t = B/(4L) texels (at most 4t partial sums, each of the
/// lane's values) and a subgroup sum over the lanes (L − 1 partial sums, each of the group's), so
/// by the same model λ·u·√(4t + L − 1)·‖y_g‖_F over all rows. X̄'s compensated sum errs per term
/// by at most 2u·|x_mk|: λ·2u·√(Σ_k c_k·S_gk²) through S_g. The rest is in double. So with λ = 8
/// (2·e⁻³² ≈ 2.5e-14 per test) a group fails when
///   |Σ y − X̄·S_g − M·Σb| > λ·u·(√P·√(Σ c·Q_g) + (1 + √(4t + L − 1))·‖y_g‖_F + 2·√(Σ c·S_g²))
/// or is not a number. Summing over the M rows is what makes small corruptions visible: where a
/// feature keeps its sign across tokens (as after GELU) a corrupted weight moves the sum ~M
/// times, the bound only ~√M times. What it gives up is telling which row was wrong.
enum GEMMCheck {
    /// Output columns per group: the bound grows with √B, the host's work with N/B.
    static let groupColumns = 64
    static let lambda = 8.0
    static let unitRoundoff = 0x1p-24

    /// Where each Linear of a model leaves its sums in the context's checks buffer.
    struct Layout: Sendable {
        let base: [String: Int]
        /// The Linear whose gathering also gathers this one's input sums: the key and value
        /// projections read the query's input, so only the query's check reads it.
        let inputOf: [String: String]
        /// Rows (M), outputs (N), inputs (K) and groups of each Linear.
        let shape: [String: (m: Int, n: Int, k: Int, groups: Int)]
        let count: Int
    }

    static func layout(_ config: ModelConfig) -> Layout {
        var bases: [String: Int] = [:], shapes: [String: (m: Int, n: Int, k: Int, groups: Int)] = [:], inputs: [String: String] = [:]
        var count = 0
        for spec in config.parameters where ComponentWeights.isGEMMWeight(spec.name, shape: spec.shape) {
            let m = rows(of: spec.name, config), n = spec.shape[0], k = spec.shape.dropFirst().reduce(1, *)
            let groups = (n + groupColumns - 1) / groupColumns
            bases[spec.name] = count
            shapes[spec.name] = (m, n, k, groups)
            for projection in [".key.weight", ".value.weight"] where spec.name.hasSuffix(projection) {
                inputs[spec.name] = String(spec.name.dropLast(projection.count)) + ".query.weight"
            }
            count += 3 * k + 2 * m * groups
        }
        return Layout(base: bases, inputOf: inputs, shape: shapes, count: count)
    }

    /// The M of a Linear: the pooler reads one row, ViT's patch projection one per patch, the rest one per token.
    static func rows(of weight: String, _ config: ModelConfig) -> Int {
        if weight.hasPrefix("pooler.") { return 1 }
        if weight.contains("patch_embeddings") { return config.patchesPerSide * config.patchesPerSide }
        return config.sequenceLength
    }

    /// Whether a Linear of these sizes can be checked: the kernel reads x as RGBA texels and y four at a time.
    static func supports(n: Int, k: Int) -> Bool { n % 4 == 0 && k % 4 == 0 && n > 0 && k > 0 }

    /// The gathering dispatch of one Linear: x [m×k] and its product y [m×n] (bias added, no epilogue yet).
    /// `gatherInput`: false when another Linear's check gathers the same input's sums.
    static func dispatch(_ kernel: Kernel, x: DeviceBuffer, y: DeviceBuffer, out: DeviceBuffer, base: Int,
                         m: Int, n: Int, k: Int, gatherInput: Bool, lanes: Int, label: String) -> BatchStep {
        let groups = (n + groupColumns - 1) / groupColumns
        let xGroups = gatherInput ? (k / 4 + lanes - 1) / lanes : 0
        return .dispatch(Dispatch(kernel, buffers: [x, y, out],
                                  push: [UInt32(m), UInt32(n), UInt32(k), UInt32(groups), UInt32(groupColumns), UInt32(base),
                                         UInt32(xGroups)],
                                  groups: (UInt32(xGroups + m), 1, 1), label: "\(label).check"))
    }

    /// One Linear's test on what its gathering left at `base` of `sums` (its input's sums at
    /// `inputBase`): the worst ratio to the bound over its groups (NaN if a side is not a number)
    /// and how many groups failed.
    /// `family` and `lanes`: the GEMM that made the product and the lanes that summed it (the
    /// bound counts their partial sums).
    static func test(_ sums: UnsafeBufferPointer<Float>, base: Int, inputBase: Int, m: Int, checksum c: LinearChecksum,
                     family: GEMMFamily, lanes: Int) -> (ratio: Double, failed: Int) {
        let k = c.k, g = c.groups
        guard base + 3 * k + 2 * m * g <= sums.count, inputBase + 3 * k <= sums.count else { return (.nan, g) }
        let partials = family == .texel ? Double(k) / 8 + 7 : Double(k)
        let texelsPerLane = Double((c.groupColumns / 4 + lanes - 1) / max(lanes, 1))
        let summation = 1 + (4 * texelsPerLane + Double(lanes - 1)).squareRoot()
        var worst = 0.0, failed = 0
        for group in 0..<g {
            var expected = Double(m) * c.biasSums[group], cq = 0.0, cs = 0.0
            for i in 0..<k {
                let xbar = Double(sums[inputBase + i]) - Double(sums[inputBase + k + i]), col = Double(sums[inputBase + 2 * k + i])
                let s = c.sums[group * k + i]
                expected += xbar * s
                cq += col * c.squares[group * k + i]
                cs += col * s * s
            }
            var total = 0.0, squares = 0.0
            for row in 0..<m {
                total += Double(sums[base + 3 * k + row * g + group])
                squares += Double(sums[base + 3 * k + m * g + row * g + group])
            }
            let bound = lambda * unitRoundoff * ((partials * cq).squareRoot() + summation * squares.squareRoot()
                                                 + 2 * cs.squareRoot()) * 1.001 + 1e-30
            let ratio = abs(total - expected) / bound
            if !(ratio <= 1) { failed += 1 }
            if ratio.isNaN || ratio > worst { worst = ratio }
        }
        return (worst, failed)
    }

    /// The first Linear of `ran` (in model order) whose test failed, as a finding; nil when all held.
    static func finding(_ results: [(name: String, component: ModelComponent, ratio: Double, failed: Int, groups: Int)]) -> CorruptionFinding? {
        let failed = results.filter { $0.failed > 0 || !($0.ratio <= 1) }
        guard let first = failed.first else { return nil }
        let worst = first.ratio.isNaN ? "not a number" : String(format: "%.3g× its rounding bound", first.ratio)
        var detail = "\(first.failed) of \(first.groups) column groups of \(first.name) off their checksum, the worst \(worst)"
        if failed.count > 1 { detail += "; \(failed.count - 1) later Linear\(failed.count == 2 ? "" : "s") of the run too (fed by its output)" }
        return CorruptionFinding(detector: .checksum, component: first.component.id, tensor: first.name, detail: detail)
    }
}
