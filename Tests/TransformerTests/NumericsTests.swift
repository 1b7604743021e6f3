// Numerics helpers, half-precision conversions, and the output comparison.

import Foundation
import Testing
import Transformer

@Suite struct NumericsTests {
    @Test func geluIsTheExactErfForm() {
        for (x, expected) in [(0.0, 0.0), (1.0, 0.8413447460685429), (-1.0, -0.15865525393145707),
                              (2.5, 2.4844758), (-3.0, -0.0040496598)] as [(Double, Double)] {
            #expect(abs(Double(Numerics.gelu(Float(x))) - expected) < 1e-6, "gelu(\(x))")
        }
    }

    @Test func layerNormAndSoftmax() {
        let y = Numerics.layerNorm([1, 2, 3, 4, 10, 10, 10, 10], cols: 4, gamma: [1, 1, 2, 1], beta: [0, 0, 0, 0.5], eps: 1e-12)
        let s = Float(1.25).squareRoot()
        let expected: [Float] = [-1.5 / s, -0.5 / s, 2 * 0.5 / s, 1.5 / s + 0.5, 0, 0, 0, 0.5]
        #expect(Numerics.maxAbsDifference(y, expected) < 1e-6)
        #expect(Numerics.layerNorm([1, 2, 3], cols: 2, gamma: [1, 1], beta: [0, 0], eps: 0).isEmpty)

        let p = Numerics.softmax([1000, 1000, 0], additiveMask: [0, -Float.greatestFiniteMagnitude, 0])
        #expect(p == [1, 0, 0])
        let q = Numerics.softmax([0, Float(log(3.0))])
        #expect(abs(q[0] - 0.25) < 1e-7 && abs(q[1] - 0.75) < 1e-7)
    }

    @Test func linearMatchesHandComputation() {
        // x [2, 3], W [2, 3] (out, in), b [2].
        let y = Numerics.linear([1, 2, 3, 4, 5, 6], inFeatures: 3, weight: [1, 0, -1, 0.5, 0.5, 0.5], bias: [10, 20], outFeatures: 2)
        #expect(y == [8, 23, 8, 27.5])
        #expect(Numerics.linear([1, 2], inFeatures: 3, weight: [1, 2, 3], bias: nil, outFeatures: 1).isEmpty)
    }

    @Test func comparisons() {
        #expect(Numerics.maxAbsDifference([1, 2, 3], [1, 2.5, 2]) == 1)
        #expect(Numerics.maxAbsDifference([1], [1, 2]) == .infinity)
        #expect(Numerics.maxAbsDifference([.nan], [1]) == .infinity)
        #expect(Numerics.maxAbsDifference([0, 0, 0], [1e-7, .nan, 3e-7]) == .infinity)
    }

    // Test that the worst of some errors sees a NaN wherever it is (`max()` sees it only first).
    @Test(arguments: 0..<4)
    func theWorstSeesANaNAnywhere(at index: Int) {
        var errors: [Double] = [1e-7, 3e-7, 2e-7, 0]
        #expect(Numerics.worst(errors) == 3e-7 && Numerics.worst([Double]()) == 0)
        errors[index] = .nan
        #expect(Numerics.worst(errors) == .infinity, "\(errors)")
        let a: [Float] = [1, 2, 3, 4]
        var b: [Double] = [1, 2.5, 3, 4]
        #expect(Numerics.worstAbsDifference(a, b) == 0.5 && Numerics.worstAbsDifference(a, [1.0]) == .infinity)
        b[index] = .nan
        #expect(Numerics.worstAbsDifference(a, b) == .infinity)
        #expect(Numerics.relativeL2([3, 4], [3, 4]) == 0)
        #expect(abs(Numerics.relativeL2([3, 5], [3, 4]) - 0.2) < 1e-7)
        #expect(Numerics.relativeL2([0, 0], [0, 0]) == 0)
        #expect(Numerics.relativeL2([1, .nan], [1, 1]) == .infinity)
        let close = NumericComparison(actual: [1, 2.00001], reference: [1, 2])
        #expect(close.passes())
        #expect(!NumericComparison(actual: [1, 2.001], reference: [1, 2]).passes())
        #expect(!NumericComparison(actual: [.nan], reference: [1]).passes())
    }

    @Test func halfPrecisionDecodesEveryF16() {
        #if !(os(macOS) && arch(x86_64))
        for bits in 0...UInt16.max {
            let expected = Float(Float16(bitPattern: bits))
            let decoded = HalfPrecision.float(fromF16: bits)
            #expect(decoded.bitPattern == expected.bitPattern || (decoded.isNaN && expected.isNaN), "\(bits)")
            if expected.isNaN { continue }
            // Encoding a half's exact value gives the half back (±0 included).
            #expect(HalfPrecision.f16Bits(from: decoded) == bits, "\(bits)")
        }
        #endif
    }

    @Test func halfPrecisionRoundsToNearestEven() {
        #if !(os(macOS) && arch(x86_64))
        var generator = Xoshiro256StarStar(seed: 3)
        for _ in 0..<20000 {
            // Values across the half range, subnormals and overflow included.
            let value = Float(bitPattern: UInt32(truncatingIfNeeded: generator.next()) & 0xBFFF_FFFF | 0x3000_0000)
                * (generator.nextInt(below: 2) == 0 ? 1 : 0x1p-20)
            let expected = Float16(value).bitPattern
            #expect(HalfPrecision.f16Bits(from: value) == expected, "\(value)")
        }
        #endif
        #expect(HalfPrecision.f16Bits(from: 1e6) == 0x7C00)
        #expect(HalfPrecision.f16Bits(from: -.infinity) == 0xFC00)
        #expect(HalfPrecision.float(fromF16: HalfPrecision.f16Bits(from: .nan)).isNaN)
    }

    @Test func bfloat16() {
        #expect(HalfPrecision.float(fromBF16: 0x3F80) == 1)
        #expect(HalfPrecision.bf16Bits(from: 1) == 0x3F80)
        // 1 + 2^-8 is halfway between bf16 1 and 1 + 2^-7: ties to even (1).
        #expect(HalfPrecision.bf16Bits(from: 1 + 0x1p-8) == 0x3F80)
        #expect(HalfPrecision.bf16Bits(from: 1 + 0x1p-8 + 0x1p-20) == 0x3F81)
        #expect(HalfPrecision.float(fromBF16: HalfPrecision.bf16Bits(from: .nan)).isNaN)
        #expect(HalfPrecision.bf16Bits(from: .greatestFiniteMagnitude) == 0x7F80)  // rounds up to inf
    }
}
