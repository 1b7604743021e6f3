// WeightIntegrity: what the source weights must look like where the kernels read them, for the
// two silent-data-corruption checks that run on the device with no CPU reference at hand, as a
// production fleet's must:
// - Scrubbing reads every weight buffer on the device and digests it row by row; the digests
//   of the same rows, computed here from the source, say whether a row changed since it was
//   uploaded (memory scrubbing, as ECC DRAM does it, but with a checksum a flipped bit cannot
//   keep).
// - Checksummed Linear layers (algorithm-based fault tolerance, Huang & Abraham 1984): for
//   y = x·Wᵀ + b, the sum of a group of outputs equals x · (the sum of that group's rows of W)
//   plus the group's bias sum. The group sums come from here, from the source, so corrupted
//   weights on the device disagree with them.
// Both are computed from the pool's sealed copy of the weights, which no browser can write.

import CVectorMath

public enum WeightIntegrity {
    /// The digest of each row of `cols` floats of `values`, as a kernel sees the row at a
    /// pitch of `pitch` floats (the padding after each row zero): two 32-bit sums of a bijective
    /// mix of each word with its position in the row, packed low | high << 32. A changed word
    /// always changes the low sum; two changed words leave both sums equal with odds of 2⁻⁶⁴.
    public static func rowDigests(_ values: UnsafeBufferPointer<Float>, cols: Int, pitch: Int? = nil) -> [UInt64] {
        guard cols > 0, values.count % cols == 0, let base = values.baseAddress else { return [] }
        let rows = values.count / cols
        var words = [UInt32](repeating: 0, count: 2 * rows)
        words.withUnsafeMutableBufferPointer { out in
            pf_row_digests(base, rows, cols, max(pitch ?? cols, cols), out.baseAddress)
        }
        return (0..<rows).map { UInt64(words[2 * $0]) | UInt64(words[2 * $0 + 1]) << 32 }
    }

    /// The digest of a row of zeros at `pitch` floats (a padding row the kernel never writes).
    public static func zeroRowDigest(pitch: Int) -> UInt64 {
        let zeros = [Float](repeating: 0, count: max(pitch, 1))
        return zeros.withUnsafeBufferPointer { rowDigests($0, cols: max(pitch, 1))[0] }
    }

    /// A Linear's checksums: its N output rows cut into groups of `groupColumns`.
    public static func linearChecksum(weight: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?, n: Int, k: Int,
                                      groupColumns: Int) -> LinearChecksum {
        let groups = (n + groupColumns - 1) / groupColumns
        var sums = [Double](repeating: 0, count: groups * k)
        var squares = [Double](repeating: 0, count: groups * k)
        if let base = weight.baseAddress, weight.count == n * k {
            pf_group_column_sums(base, n, k, groupColumns, &sums, &squares)
        }
        var biasSums = [Double](repeating: 0, count: groups)
        if let bias, bias.count == n {
            for g in 0..<groups { biasSums[g] = bias[(g * groupColumns)..<min(n, (g + 1) * groupColumns)].reduce(0.0) { $0 + Double($1) } }
        }
        return LinearChecksum(n: n, k: k, groupColumns: groupColumns, sums: sums, squares: squares, biasSums: biasSums)
    }
}

/// The checksum of one Linear y = x·Wᵀ + b (W: n × k), per group g of `groupColumns` outputs,
/// from the source and in double: S_g = Σ_{j in g} W_j and Q_g = Σ_{j in g} W_j² (k values each,
/// at g·k + c), and Σ_{j in g} b_j.
public struct LinearChecksum: Sendable, Equatable {
    public let n: Int
    public let k: Int
    public let groupColumns: Int
    public var groups: Int { biasSums.count }
    public let sums: [Double]
    public let squares: [Double]
    public let biasSums: [Double]

    public init(n: Int, k: Int, groupColumns: Int, sums: [Double], squares: [Double], biasSums: [Double]) {
        self.n = n; self.k = k; self.groupColumns = groupColumns; self.sums = sums; self.squares = squares; self.biasSums = biasSums
    }
}
