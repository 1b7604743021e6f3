// The CPU forward's attention (CPUKernels.attention: a head per core through CVectorMath's
// pf_attention_head, or sgemm where that kernel declines) against attention computed in double,
// over sequence lengths (whole and partial 4-query and 16-key blocks), head sizes (64: the
// one-core kernel; 8: the sgemm path), masks and seeds.

import CVectorMath
import Foundation
import Testing
@testable import Transformer

@Suite struct AttentionKernelTests {
    /// softmax(q·kᵀ/√d + mask)·v per head, in double.
    static func reference(q: [Float], k: [Float], v: [Float], s: Int, h: Int, heads: Int, mask: [Float]?) -> [Double] {
        let d = h / heads, scale = 1 / Double(d).squareRoot()
        var out = [Double](repeating: 0, count: s * h)
        for head in 0..<heads {
            for i in 0..<s {
                var scores = (0..<s).map { j -> Double in
                    var dot = 0.0
                    for t in 0..<d { dot += Double(q[i * h + head * d + t]) * Double(k[j * h + head * d + t]) }
                    return dot * scale + Double(mask?[j] ?? 0)
                }
                let top = scores.max() ?? 0
                scores = scores.map { Foundation.exp($0 - top) }
                let sum = scores.reduce(0, +)
                for t in 0..<d {
                    var acc = 0.0
                    for j in 0..<s { acc += scores[j] / sum * Double(v[j * h + head * d + t]) }
                    out[i * h + head * d + t] = acc
                }
            }
        }
        return out
    }

    @Test(arguments: [(1, 64, 1), (2, 64, 7), (3, 64, 33), (4, 64, 128), (5, 64, 197), (6, 8, 19), (7, 8, 64)])
    func matchesDouble(seed: UInt64, headDim: Int, sequence: Int) {
        let heads = headDim == 64 ? 3 : 4, h = heads * headDim, s = sequence
        var rng = Xoshiro256StarStar(seed: seed)
        func values() -> [Float] { (0..<s * h).map { _ in 2 * rng.nextSignedUnitFloat() } }
        let q = values(), k = values(), v = values()
        // BERT's padding: the last s/8 keys masked (seed-dependent whether any are).
        let mask: [Float]? = seed % 2 == 0 ? (0..<s).map { $0 >= s - s / 8 ? -3.402_823e38 : 0 } : nil
        let ctx = UnsafeMutableBufferPointer<Float>.allocate(capacity: s * h)
        let scratch = UnsafeMutableBufferPointer<Float>.allocate(capacity: CPUKernels.attentionScratch(sequence: s, hidden: h, heads: heads))
        let inputs = UnsafeMutableBufferPointer<Float>.allocate(capacity: 3 * s * h + s)
        defer { ctx.deallocate(); scratch.deallocate(); inputs.deallocate() }
        ctx.initialize(repeating: .nan)
        scratch.initialize(repeating: .nan)
        _ = inputs.initialize(from: q + k + v + (mask ?? [Float](repeating: 0, count: s)))
        let base = UnsafePointer(inputs.baseAddress!)
        CPUKernels.attention(q: base, k: base + s * h, v: base + 2 * s * h, sequence: s, hidden: h, heads: heads,
                             additiveMask: mask == nil ? nil : base + 3 * s * h, scratch: scratch.baseAddress!, into: ctx.baseAddress!)
        let want = Self.reference(q: q, k: k, v: v, s: s, h: h, heads: heads, mask: mask)
        let worst = Numerics.worstAbsDifference(ctx, want)
        // fp32 sums of 64–197 terms of magnitude ≤ 4: a few 1e-7; NaN (a value never written) fails.
        #expect(worst < 2e-6, "max |fp32 − double| = \(worst) (s \(s), d \(headDim))")
    }

    @Test func theOneCoreKernelRunsWhereverItCan() {
        #expect(pf_attention_head_supported(8) == 0, "d = 8 is the sgemm path's")
        let avx2 = pf_vector_math_isa().map { String(cString: $0) } == "avx2+fma"
        #expect((pf_attention_head_supported(64) != 0) == avx2 && (pf_attention_head_supported(16) != 0) == avx2)
        if avx2 {
            var scratch = [Float](repeating: 0, count: pf_attention_head_scratch(4, 16))
            let x = [Float](repeating: 0.5, count: 64)
            var out = [Float](repeating: 0, count: 64)
            pf_attention_head(x, x, x, 4, 16, 16, 0.25, nil, &scratch, &out)
            #expect(out.allSatisfy { $0 == 0.5 }, "uniform values: every output is the value")
        }
    }
}
