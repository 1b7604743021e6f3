// Numerics: the CPU reference's scalar formulas and the output comparison, public so GPU
// kernel tests compare against exactly what the oracle computes.

public enum Numerics {
    /// Exact GELU: 0.5·x·(1 + erf(x/√2)).
    public static func gelu(_ x: Float) -> Float { CPUKernels.gelu(x) }

    /// LayerNorm of each `cols`-wide row of `x` (biased variance, eps inside the sqrt).
    /// Returns an empty array if the sizes do not fit.
    public static func layerNorm(_ x: [Float], cols: Int, gamma: [Float], beta: [Float], eps: Float) -> [Float] {
        guard cols > 0, x.count % cols == 0, gamma.count == cols, beta.count == cols else { return [] }
        var y = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { input in
            gamma.withUnsafeBufferPointer { g in
                beta.withUnsafeBufferPointer { b in
                    y.withUnsafeMutableBufferPointer { output in
                        guard let input = input.baseAddress, let g = g.baseAddress, let b = b.baseAddress,
                              let output = output.baseAddress else { return }
                        CPUKernels.layerNorm(input, rows: x.count / cols, cols: cols, gamma: g, beta: b, eps: eps, into: output)
                    }
                }
            }
        }
        return y
    }

    /// Softmax of one row after adding an optional additive mask (same length), max-subtracted.
    public static func softmax(_ row: [Float], additiveMask: [Float]? = nil) -> [Float] {
        var values = row
        if let additiveMask, additiveMask.count == row.count {
            for j in values.indices { values[j] += additiveMask[j] }
        }
        values.withUnsafeMutableBufferPointer { buffer in
            if let base = buffer.baseAddress { CPUKernels.softmaxRow(base, count: buffer.count, additiveMask: nil) }
        }
        return values
    }

    /// y = x·Wᵀ + b for x [rows, inFeatures], W [outFeatures, inFeatures] (oneDNN's matmul, as the
    /// forward does). Returns an empty array if the sizes do not fit.
    public static func linear(_ x: [Float], inFeatures: Int, weight: [Float], bias: [Float]?, outFeatures: Int) -> [Float] {
        guard inFeatures > 0, outFeatures > 0, x.count % inFeatures == 0, weight.count == inFeatures * outFeatures,
              bias.map({ $0.count == outFeatures }) ?? true else { return [] }
        let rows = x.count / inFeatures
        var y = [Float](repeating: 0, count: rows * outFeatures)
        guard rows > 0 else { return y }
        x.withUnsafeBufferPointer { input in
            weight.withUnsafeBufferPointer { w in
                y.withUnsafeMutableBufferPointer { output in
                    guard let input = input.baseAddress, let w = w.baseAddress, let output = output.baseAddress else { return }
                    if let bias {
                        bias.withUnsafeBufferPointer { b in
                            CPUKernels.linear(input, rows: rows, inFeatures: inFeatures, weight: w, bias: b.baseAddress,
                                              outFeatures: outFeatures, into: output)
                        }
                    } else {
                        CPUKernels.linear(input, rows: rows, inFeatures: inFeatures, weight: w, bias: nil,
                                          outFeatures: outFeatures, into: output)
                    }
                }
            }
        }
        return y
    }

    /// y[rows, outFeatures] = x · Wᵀ + b on raw buffers, exactly as the forward's Linear layers
    /// run (for benchmarks: no allocation per call).
    public static func linear(_ x: UnsafePointer<Float>, rows: Int, inFeatures: Int, weight: UnsafePointer<Float>,
                              bias: UnsafePointer<Float>?, outFeatures: Int, into y: UnsafeMutablePointer<Float>) {
        CPUKernels.linear(x, rows: rows, inFeatures: inFeatures, weight: weight, bias: bias, outFeatures: outFeatures, into: y)
    }

    /// Largest |a[i] - b[i]|; infinity if the lengths differ or a NaN appears (a NaN must
    /// never pass a tolerance check).
    public static func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count else { return .infinity }
        var worst: Float = 0
        for i in a.indices {
            let difference = abs(a[i] - b[i])
            if difference.isNaN { return .infinity }
            worst = max(worst, difference)
        }
        return worst
    }

    /// The worst of some errors (0 when there are none), a NaN anywhere counting as infinite.
    /// `max()` and `Swift.max(_:_:)` keep whichever side a comparison with NaN does not pick:
    /// `[1e-7, .nan, 3e-7].max()` is 3e-7, so a NaN anywhere but first would pass a tolerance.
    public static func worst(_ errors: some Sequence<Double>) -> Double {
        var worst = 0.0
        for error in errors {
            if error.isNaN { return .infinity }
            if error > worst { worst = error }
        }
        return worst
    }

    /// The largest |a − b| over the pairs, in Double, for any mix of precisions; infinity
    /// when a NaN appears or the lengths differ.
    public static func worstAbsDifference<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(_ a: some Collection<A>,
                                                                                         _ b: some Collection<B>) -> Double {
        guard a.count == b.count else { return .infinity }
        return worst(zip(a, b).lazy.map { abs(Double($0) - Double($1)) })
    }

    /// ‖actual − reference‖₂ / ‖reference‖₂ (accumulated in Double); infinity if the lengths
    /// differ or a NaN appears; 0 when both are all zeros.
    public static func relativeL2(_ actual: [Float], _ reference: [Float]) -> Float {
        guard actual.count == reference.count else { return .infinity }
        var error = 0.0, norm = 0.0
        for i in actual.indices {
            let d = Double(actual[i]) - Double(reference[i])
            error += d * d
            norm += Double(reference[i]) * Double(reference[i])
        }
        if error.isNaN { return .infinity }
        if norm == 0 { return error == 0 ? 0 : .infinity }
        return Float((error / norm).squareRoot())
    }
}

/// How far an output is from the reference, and whether that is close enough.
public struct NumericComparison: Sendable, Codable, Hashable, CustomStringConvertible {
    /// The limits that separate a correct fp32 implementation from the smallest real bug
    /// (notes: correct ≈ 1e-5, LayerNorm-eps bug ≈ 2e-4).
    public static let defaultMaxAbs: Float = 1e-4
    public static let defaultRelativeL2: Float = 2e-5

    public var maxAbs: Float
    public var relativeL2: Float
    public var count: Int

    public init(actual: [Float], reference: [Float]) {
        maxAbs = Numerics.maxAbsDifference(actual, reference)
        relativeL2 = Numerics.relativeL2(actual, reference)
        count = reference.count
    }

    public func passes(maxAbs maxAbsLimit: Float = defaultMaxAbs, relativeL2 relativeLimit: Float = defaultRelativeL2) -> Bool {
        maxAbs <= maxAbsLimit && relativeL2 <= relativeLimit
    }

    public var description: String {
        "max abs \(maxAbs), relative L2 \(relativeL2) over \(count) values"
    }
}
