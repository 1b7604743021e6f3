// The CPU forward's building blocks on raw pointers: Linear (oneDNN's matmul), LayerNorm,
// exact-erf GELU, masked softmax attention. Each one mirrors a formula in
// docs/numerics.md; the comments say which choices matter.

import COpenBLAS
import CVectorMath
import Dispatch
import Foundation

enum CPUKernels {
    /// y[rows, outFeatures] = x[rows, inFeatures] · Wᵀ + b, W stored [out, in] (an "NT"
    /// GEMM); with `accumulate`, y += x · Wᵀ + b (a residual add folded into the GEMM's store).
    /// oneDNN's matmul (LinearEngine: why), or OpenBLAS where oneDNN cannot make a primitive:
    /// there the bias is broadcast into y first and sgemm accumulates onto it, as torch's addmm
    /// does. `ldy` lets callers write into a wider matrix; `engine` nil takes the OpenBLAS path
    /// (the tests check it too).
    static func linear(_ x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
                       weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outFeatures: Int,
                       into y: UnsafeMutablePointer<Float>, ldy: Int? = nil, accumulate: Bool = false,
                       engine: LinearEngine? = LinearEngine.shared) {
        let ldy = ldy ?? outFeatures
        let shape = LinearEngine.Shape(rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, ldy: ldy,
                                       hasBias: bias != nil, accumulate: accumulate)
        if let engine, engine.run(shape, x: x, weight: weight, bias: bias, into: y) { return }
        if let bias {
            for row in 0..<rows {
                let out = y + row * ldy
                if accumulate {
                    for i in 0..<outFeatures { out[i] += bias[i] }
                } else {
                    out.update(from: bias, count: outFeatures)
                }
            }
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                    Int32(rows), Int32(outFeatures), Int32(inFeatures),
                    1, x, Int32(inFeatures), weight, Int32(inFeatures),
                    bias == nil && !accumulate ? 0 : 1, y, Int32(ldy))
    }

    /// Row-wise LayerNorm of x[rows, cols] into y (may alias x): biased variance, eps inside
    /// the sqrt. Mean and variance are accumulated in Double (two passes) so the oracle's
    /// own rounding stays far below the tolerances it is used to check; vectorised in
    /// CVectorMath (double lanes) and split by rows across the cores.
    static func layerNorm(_ x: UnsafePointer<Float>, rows: Int, cols: Int,
                          gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float,
                          into y: UnsafeMutablePointer<Float>) {
        parallelChunks(count: rows, minimumChunk: max(1, 32_768 / max(cols, 1))) { range in
            pf_layernorm_rows(x + range.lowerBound * cols, range.count, cols, gamma, beta, eps, y + range.lowerBound * cols)
        }
    }

    /// Exact GELU, 0.5·x·(1 + erf(x/√2)), on one value.
    @inline(__always)
    static func gelu(_ x: Float) -> Float {
        0.5 * x * (1 + erff(x * 0.707_106_77))
    }

    /// GELU in place over `count` floats: vectorised (CVectorMath, ~10× libm's erff) and split
    /// across cores; BERT-base evaluates 4.7 M of them per forward.
    static func geluInPlace(_ values: UnsafeMutablePointer<Float>, count: Int) {
        parallelChunks(count: count, minimumChunk: 16_384) { range in
            pf_gelu_inplace(values + range.lowerBound, range.count)
        }
    }

    /// y += x, elementwise (the residual adds).
    static func addInPlace(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += x[i] }
    }

    /// Multi-head attention for one sequence. q, k, v and ctx are [S, H] with head h in
    /// columns h·d..<(h+1)·d. Scores = (q_h·k_hᵀ)·scale + mask[key], softmax over keys
    /// (max-subtracted), ctx_h = P·v_h. Each head runs whole on one core (CVectorMath's
    /// pf_attention_head: its scores stay in L1) and the heads are spread over the cores; where
    /// that kernel cannot run (no AVX2+FMA, or a head size not a multiple of 16), two sgemm calls
    /// per head and a softmax pass. `scratch` holds `attentionScratch(...)` floats.
    static func attention(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                          sequence: Int, hidden: Int, heads: Int, additiveMask: UnsafePointer<Float>?,
                          scratch: UnsafeMutablePointer<Float>, into context: UnsafeMutablePointer<Float>) {
        let headDim = hidden / heads
        // 1/sqrt(d): exact for the power-of-two scales used (0.125 for d = 64), so scaling q
        // (or sgemm's alpha) equals BERT's division and ViT's multiplication bit for bit.
        let scale = 1 / Float(headDim).squareRoot()
        if pf_attention_head_supported(headDim) != 0 {
            let perHead = pf_attention_head_scratch(sequence, headDim)
            // A head of a short sequence is too little work to hand to another core.
            parallelChunks(count: heads, minimumChunk: sequence >= 32 ? 1 : heads) { range in
                for head in range {
                    let column = head * headDim
                    pf_attention_head(q + column, k + column, v + column, sequence, headDim, hidden, scale, additiveMask,
                                      scratch + head * perHead, context + column)
                }
            }
            return
        }
        let s = Int32(sequence), d = Int32(headDim), ld = Int32(hidden)
        for head in 0..<heads {
            let scores = scratch + head * sequence * sequence
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s, s, d, scale, q + head * headDim, ld, k + head * headDim, ld, 0, scores, s)
            for row in 0..<sequence { softmaxRow(scores + row * sequence, count: sequence, additiveMask: additiveMask) }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s, d, s, 1, scores, s, v + head * headDim, ld, 0, context + head * headDim, ld)
        }
    }

    /// Floats `attention`'s scratch needs: each head's own for the one-core kernel, or every
    /// head's scores for the sgemm path, whichever is more.
    static func attentionScratch(sequence: Int, hidden: Int, heads: Int) -> Int {
        heads * max(pf_attention_head_scratch(sequence, hidden / heads), sequence * sequence)
    }

    /// In-place softmax of one row after adding the key mask (CVectorMath, vectorised exp). A
    /// masked key's score becomes -3.4e38 (finite), so its exp is exactly 0 and a fully masked
    /// row stays finite.
    @inline(__always)
    static func softmaxRow(_ row: UnsafeMutablePointer<Float>, count: Int, additiveMask: UnsafePointer<Float>?) {
        pf_softmax_row(row, count, additiveMask)
    }

    /// Cores this process may use, read once: Foundation reads the cgroup's files at every ask,
    /// which cost more than a small kernel itself.
    static let cores = ProcessInfo.processInfo.activeProcessorCount

    /// Runs `body` over `0..<count` in contiguous chunks, one per core when the work is big
    /// enough to pay for the hand-off, inline otherwise. `body` may run on several threads at
    /// once: it must only write the elements of the range it is given (all callers here do),
    /// which is why passing the non-Sendable closure across threads is sound.
    static func parallelChunks(count: Int, minimumChunk: Int, _ body: (Range<Int>) -> Void) {
        let workers = min(cores, max(count / max(minimumChunk, 1), 1))
        guard workers > 1 else {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { escapable in
            let shared = UncheckedSendableBody(body: escapable)
            // concurrentPerform returns only after every iteration has finished.
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                shared.body(count * worker / workers ..< count * (worker + 1) / workers)
            }
        }
    }
}

/// A closure over disjoint ranges of caller-owned buffers, shared with worker threads.
private struct UncheckedSendableBody: @unchecked Sendable {
    let body: (Range<Int>) -> Void
}
