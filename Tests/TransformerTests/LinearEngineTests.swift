// The CPU forward's Linear layers on oneDNN (LinearEngine), and their OpenBLAS fallback, against
// a plain Double loop: bias or none, the residual folded into the store, a destination wider
// than the output, one row, and shapes whose sizes are not multiples of any SIMD width; then many
// threads sharing one primitive at once, each getting exactly what it gets alone.

import Foundation
import Testing
@testable import Transformer

@Suite struct LinearEngineTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var rows, inFeatures, outFeatures, ldy: Int
        var bias, accumulate: Bool
        var testDescription: String {
            "\(rows)×\(inFeatures)→\(outFeatures) ldy \(ldy)\(bias ? " +b" : "")\(accumulate ? " +=" : "")"
        }
    }

    static let cases: [Case] = [
        Case(rows: 128, inFeatures: 768, outFeatures: 768, ldy: 768, bias: true, accumulate: false),
        Case(rows: 197, inFeatures: 768, outFeatures: 3072, ldy: 3072, bias: true, accumulate: false),
        Case(rows: 128, inFeatures: 3072, outFeatures: 768, ldy: 768, bias: true, accumulate: true),
        Case(rows: 196, inFeatures: 48, outFeatures: 40, ldy: 56, bias: true, accumulate: false),
        Case(rows: 1, inFeatures: 768, outFeatures: 768, ldy: 768, bias: true, accumulate: false),
        Case(rows: 7, inFeatures: 13, outFeatures: 5, ldy: 9, bias: false, accumulate: true),
        Case(rows: 3, inFeatures: 1, outFeatures: 1, ldy: 1, bias: false, accumulate: false),
    ]

    /// Values in [-1, 1) from a seed: every case multiplies fixed matrices.
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var random = Xoshiro256StarStar(seed: seed)
        return (0..<count).map { _ in random.nextSignedUnitFloat() }
    }

    /// oneDNN's path (seeds 1 and 9) and the OpenBLAS fallback (seed 5), which runs where oneDNN
    /// makes no primitive.
    @Test(arguments: cases, [(1, true), (9, true), (5, false)] as [(UInt64, Bool)])
    func linearMatchesADoubleLoop(_ c: Case, run: (seed: UInt64, oneDNN: Bool)) throws {
        #expect(LinearEngine.shared != nil, "oneDNN made no CPU engine: every Linear would fall back to OpenBLAS")
        let seed = run.seed
        let x = Self.values(c.rows * c.inFeatures, seed: seed), w = Self.values(c.outFeatures * c.inFeatures, seed: seed + 1)
        let b = Self.values(c.outFeatures, seed: seed + 2), before = Self.values(c.rows * c.ldy, seed: seed + 3)
        var y = before
        CPUKernels.linear(x, rows: c.rows, inFeatures: c.inFeatures, weight: w, bias: c.bias ? b : nil,
                          outFeatures: c.outFeatures, into: &y, ldy: c.ldy, accumulate: c.accumulate,
                          engine: run.oneDNN ? LinearEngine.shared : nil)
        var errors: [Double] = []
        // The big shapes are checked on every few rows (and the last): the loop runs in a debug build.
        let stride = max(1, c.rows * c.inFeatures * c.outFeatures / 20_000_000)
        for row in 0..<c.rows where row % stride == 0 || row == c.rows - 1 {
            for column in 0..<c.ldy {
                let got = Double(y[row * c.ldy + column])
                guard column < c.outFeatures else {
                    // Past the output's columns the destination is not ours to write.
                    #expect(got == Double(before[row * c.ldy + column]), "row \(row) column \(column) was written")
                    continue
                }
                var expected = c.bias ? Double(b[column]) : 0
                for k in 0..<c.inFeatures { expected += Double(x[row * c.inFeatures + k]) * Double(w[column * c.inFeatures + k]) }
                if c.accumulate { expected += Double(before[row * c.ldy + column]) }
                errors.append(abs(got - expected))
            }
        }
        let worst = Numerics.worst(errors)
        // fp32 accumulation over K terms of magnitude ≤ 1: well under 1e-6·K.
        #expect(worst <= 1e-6 * Double(max(c.inFeatures, 16)), "max abs error \(worst)")
    }

    /// One primitive, eight threads at once: each result is bit for bit the serial one (the
    /// scratchpad is the caller's, so concurrent forwards share nothing they write).
    @Test func concurrentCallsOnOnePrimitiveAgreeWithTheSerialOne() {
        let rows = 128, inFeatures = 768, outFeatures = 768
        let x = Self.values(rows * inFeatures, seed: 5), w = Self.values(outFeatures * inFeatures, seed: 6)
        let b = Self.values(outFeatures, seed: 7)
        var serial = [Float](repeating: 0, count: rows * outFeatures)
        CPUKernels.linear(x, rows: rows, inFeatures: inFeatures, weight: w, bias: b, outFeatures: outFeatures, into: &serial)
        let results = ConcurrentResults(count: 8)
        DispatchQueue.concurrentPerform(iterations: 8) { index in
            var y = [Float](repeating: .nan, count: rows * outFeatures)
            for _ in 0..<4 {
                CPUKernels.linear(x, rows: rows, inFeatures: inFeatures, weight: w, bias: b, outFeatures: outFeatures, into: &y)
            }
            results.set(index, y)
        }
        for index in 0..<8 { #expect(results.get(index) == serial, "thread \(index) differs from the serial result") }
    }

    @Test func theReportNamesTheKernelsAndThreads() {
        let named = CPUReference.linearKernels
        #expect(named.hasPrefix("oneDNN ") && named.contains(" matmul, ") && named.hasSuffix(" threads"), "\(named)")
        #expect(CPUReference.threads >= 1)
    }
}

/// Results written by concurrent workers, one slot each.
private final class ConcurrentResults: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [[Float]]
    init(count: Int) { slots = Array(repeating: [], count: count) }
    func set(_ index: Int, _ value: [Float]) { lock.withLock { slots[index] = value } }
    func get(_ index: Int) -> [Float] { lock.withLock { slots[index] } }
}
