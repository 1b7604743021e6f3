import Foundation
import Transformer

/// How wrong injected weights are, by the bits flipped in each element of the block.
public enum CorruptionMagnitude: String, Sendable, Codable, CaseIterable {
    /// 1–2 of the low 16 mantissa bits: a change of at most 2⁻⁸ of the value, which may stay
    /// inside the output tolerance (the report says whether it did).
    case subtle
    /// One exponent bit (23–29), perhaps one mantissa bit too: the value scales by a power of two.
    case gross
    /// 1–3 bits anywhere but bit 30 (sign, exponent, mantissa): what a multi-bit upset looks like.
    case mixed

    /// Bit 30, the exponent's top bit, is never drawn: flipping it turns a weight below 2 into
    /// one above 2⁶⁴, whose products overflow into a NaN or ±∞ at the output, an outcome
    /// published fault-injection studies see in about 1% of silent corruptions, not in most.
    func drawBits(_ random: inout Xoshiro256StarStar) -> [Int] {
        func distinct(_ count: Int, from pool: [Int]) -> [Int] {
            var left = pool, picked: [Int] = []
            for _ in 0..<min(count, pool.count) { picked.append(left.remove(at: random.nextInt(below: left.count))) }
            return picked.sorted()
        }
        switch self {
        case .subtle: return distinct(1 + random.nextInt(below: 2), from: Array(0...15))
        case .gross:
            let exponent = 23 + random.nextInt(below: 7)
            return random.nextInt(below: 2) == 0 ? [exponent] : (distinct(1, from: Array(0...22)) + [exponent]).sorted()
        case .mixed: return distinct(1 + random.nextInt(below: 3), from: Array(0...29) + [31])
        }
    }
}

/// Whether corrupted weights stay wrong.
public enum CorruptionPersistence: String, Sendable, Codable, CaseIterable {
    /// The weights stay wrong until they are restored from the source.
    case persistent
    /// One dispatch's output is wrong once: the weights are put back after the next run that reads them.
    case transient
}

/// What to corrupt: a seeded, aligned block of consecutive elements of one tensor of a
/// component, each XOR-ed with a few bits (values kept finite), as hardware corrupts memory:
/// published fault-injection studies find multi-bit flips common and corrupted addresses in
/// aligned groups.
public struct CorruptionSpec: Sendable, Codable, Equatable {
    public var magnitude: CorruptionMagnitude
    public var persistence: CorruptionPersistence
    /// Consecutive elements in the block (fewer if a row is shorter).
    public var elements: Int
    public var seed: UInt64
    /// The tensor to corrupt; nil: drawn with the seed, weighted by size.
    public var tensor: String?

    public init(magnitude: CorruptionMagnitude = .mixed, persistence: CorruptionPersistence = .persistent, elements: Int = 64,
                seed: UInt64, tensor: String? = nil) {
        self.magnitude = magnitude; self.persistence = persistence; self.elements = max(1, elements); self.seed = seed
        self.tensor = tensor
    }

    /// As a fault-control argument: "mixed,persistent,64,42[,tensor]".
    public var wire: String {
        ([magnitude.rawValue, persistence.rawValue, "\(elements)", "\(seed)"] + (tensor.map { [$0] } ?? [])).joined(separator: ",")
    }

    public init?(wire: String) {
        let f = wire.split(separator: ",", maxSplits: 4, omittingEmptySubsequences: false).map(String.init)
        guard f.count >= 4, let m = CorruptionMagnitude(rawValue: f[0]), let p = CorruptionPersistence(rawValue: f[1]),
              let e = Int(f[2]), (1...4096).contains(e), let s = UInt64(f[3]) else { return nil }
        self.init(magnitude: m, persistence: p, elements: e, seed: s, tensor: f.count == 5 && !f[4].isEmpty ? f[4] : nil)
    }

    /// The tensor to corrupt among `tensors` (name, element count): the named one, else one
    /// drawn with probability proportional to its size.
    func chooseTensor(_ tensors: [(name: String, count: Int)], _ random: inout Xoshiro256StarStar) -> String? {
        if let tensor { return tensors.contains { $0.name == tensor } ? tensor : nil }
        let total = tensors.reduce(0) { $0 + $1.count }
        guard total > 0 else { return nil }
        var pick = random.nextInt(below: total)
        for t in tensors {
            if pick < t.count { return t.name }
            pick -= t.count
        }
        return tensors.last?.name
    }

    /// The block within a tensor of `rows` rows of `cols`: a row, and the first element of an
    /// aligned run of `elements` in it.
    func chooseBlock(rows: Int, cols: Int, _ random: inout Xoshiro256StarStar) -> (row: Int, column: Int, count: Int) {
        let count = min(elements, cols)
        let row = random.nextInt(below: max(rows, 1))
        let column = count * random.nextInt(below: max(cols / count, 1))
        return (row, column, count)
    }

    /// XORs each element with bits of this magnitude; an element that would stop being finite
    /// is drawn again. Returns the new words and every bit position flipped, per element.
    func flip(_ words: [UInt32], _ random: inout Xoshiro256StarStar) -> (words: [UInt32], bits: [[Int]]) {
        var out = words, bits: [[Int]] = []
        for i in words.indices {
            var chosen: [Int] = []
            for _ in 0..<64 {
                chosen = magnitude.drawBits(&random)
                let mask = chosen.reduce(UInt32(0)) { $0 | (1 << UInt32($1)) }
                if Float(bitPattern: words[i] ^ mask).isFinite {
                    out[i] = words[i] ^ mask
                    break
                }
                chosen = []
            }
            bits.append(chosen)
        }
        return (out, bits)
    }
}

/// What a corruption did, for the report: where, which bits, how, and how much the values moved.
public struct CorruptionRecord: Sendable, Codable, Equatable {
    public var component: String
    public var tensor: String
    /// The row of the tensor (a Linear's output row; 0 for a vector) and its first element.
    public var row: Int
    public var column: Int
    public var elements: Int
    /// How many bits were flipped in all, and which bit positions (0 = the mantissa's lowest, 31 the sign).
    public var flips: Int
    public var bitPositions: [Int]
    /// Byte offset of the block in the device buffer (the device's layout: padding and row order included).
    public var deviceOffset: Int
    /// How the device memory was written ("read-modify-write of mapped device memory", or through a staging copy).
    public var mechanism: String
    public var magnitude: CorruptionMagnitude
    public var persistence: CorruptionPersistence
    /// The largest |new − old| of an element, and the largest relative to |old|.
    public var largestChange: Double
    public var largestRelativeChange: Double

    public var summary: String {
        "\(elements) elements of \(tensor) (row \(row), from element \(column); device offset \(deviceOffset) B) XOR-ed with "
            + "\(flips) bits at positions \(Self.ranges(bitPositions)) (\(magnitude.rawValue), "
            + "\(persistence.rawValue)), largest change \(String(format: "%.3g", largestChange)); \(mechanism)"
    }

    /// "0–3, 7, 23–28": sorted positions as runs.
    static func ranges(_ positions: [Int]) -> String {
        var runs: [String] = [], i = 0
        let sorted = positions.sorted()
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count, sorted[j + 1] == sorted[j] + 1 { j += 1 }
            runs.append(j > i ? "\(sorted[i])–\(sorted[j])" : "\(sorted[i])")
            i = j + 1
        }
        return runs.joined(separator: ", ")
    }
}
