// CVectorMath's exp and erf (the CPU forward's softmax and GELU) against double precision over
// their whole useful range, and the softmax's exact zeros for masked keys.

import CVectorMath
import Foundation
import Testing
import Transformer

@Suite struct VectorMathTests {
    @Test func expIsWithinFourUlpOfDoubleEverywhereItIsNormal() {
        var errors: [Double] = []
        var x: Float = -87.3
        while x < 88.3 {
            let got = Double(pf_exp(x)), want = Foundation.exp(Double(x))
            errors.append(abs(got - want) / want)
            x += 0.000_731
        }
        let worst = Numerics.worst(errors)
        #expect(worst < 4 * 5.96e-8, "worst relative error \(worst)")
        #expect(pf_exp(-3.4e38) == 0 && pf_exp(-88) == 0 && pf_exp(0) == 1)
    }

    @Test func erfIsWithinHalfAMillionthEverywhere() {
        var errors: [Double] = []
        var x: Float = -6
        while x < 6 {
            errors.append(abs(Double(pf_erf(x)) - Foundation.erf(Double(x))))
            x += 0.000_137
        }
        let worst = Numerics.worst(errors)
        // Numerical Recipes' 1.2e-7 relative in erfc, plus the float rounding of 1 − erfc near 1.
        #expect(worst < 5e-7, "worst absolute error \(worst)")
        #expect(pf_erf(0) == 0 && pf_erf(10) == 1 && pf_erf(-10) == -1)
    }

    /// GELU over a sweep of counts (the vector loop and its tail) matches 0.5·x·(1 + erf(x/√2)) in double.
    @Test(arguments: [1, 15, 16, 17, 100, 3072])
    func geluMatchesDouble(count: Int) {
        var values = (0..<count).map { Float($0) / Float(max(count - 1, 1)) * 16 - 8 }
        let inputs = values
        pf_gelu_inplace(&values, count)
        for (x, y) in zip(inputs, values) {
            let want = 0.5 * Double(x) * (1 + Foundation.erf(Double(x) / 2.0.squareRoot()))
            #expect(abs(Double(y) - want) <= 1e-6 * max(1, abs(want)), "gelu(\(x)) = \(y), want \(want)")
        }
    }

    @Test(arguments: [1, 8, 16, 31, 128, 197])
    func softmaxSumsToOneAndMaskedKeysGetExactlyZero(count: Int) {
        var rng = SystemRandomNumberGenerator()
        var row = (0..<count).map { _ in Float.random(in: -8...8, using: &rng) }
        let mask = (0..<count).map { $0 % 3 == 2 ? Float(-3.4e38) : 0 }
        let scores = row
        pf_softmax_row(&row, count, mask)
        let kept = (0..<count).filter { mask[$0] == 0 }
        let maximum = kept.map { Double(scores[$0]) }.max()!
        let total = kept.map { Foundation.exp(Double(scores[$0]) - maximum) }.reduce(0, +)
        for j in 0..<count {
            if mask[j] != 0 {
                #expect(row[j] == 0)
            } else {
                #expect(abs(Double(row[j]) - Foundation.exp(Double(scores[j]) - maximum) / total) < 1e-6)
            }
        }
    }
}
