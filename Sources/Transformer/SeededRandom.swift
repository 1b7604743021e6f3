// Deterministic random numbers for seeded weights and inputs. Own generators (not the
// standard library's) so the same seed gives the same bits on every platform and release.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// SplitMix64: turns one seed into well-mixed 64-bit values; used to seed xoshiro streams.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256**: fast, high-quality 64-bit generator.
public struct Xoshiro256StarStar: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    public init(seed: UInt64) {
        var mixer = SplitMix64(seed: seed)
        s0 = mixer.next(); s1 = mixer.next(); s2 = mixer.next(); s3 = mixer.next()
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Uniform in [0, 1) with 24 random bits (exact in Float).
    @inline(__always)
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// Uniform in [-1, 1).
    @inline(__always)
    public mutating func nextSignedUnitFloat() -> Float {
        Float(Int64(bitPattern: next()) >> 40) * 0x1p-23
    }

    /// Uniform in 0..<bound (bound > 0), by Lemire's multiply-shift (bias < 2^-32 here).
    @inline(__always)
    public mutating func nextInt(below bound: Int) -> Int {
        Int((UInt64(truncatingIfNeeded: next() >> 32) &* UInt64(bound)) >> 32)
    }

    /// Fills `buffer` with N(mean, stddev) samples by Marsaglia's polar method: two normals
    /// per accepted pair, one logf and one sqrtf, no trigonometry.
    public mutating func fillNormal(_ buffer: UnsafeMutableBufferPointer<Float>, mean: Float, stddev: Float) {
        var index = 0
        let count = buffer.count
        while index < count {
            let u = nextSignedUnitFloat()
            let v = nextSignedUnitFloat()
            let s = u * u + v * v
            if s >= 1 || s == 0 { continue }
            let factor = (-2 * logf(s) / s).squareRoot() * stddev
            buffer[index] = mean + u * factor
            if index + 1 < count { buffer[index + 1] = mean + v * factor }
            index += 2
        }
    }
}

/// FNV-1a over a string's UTF-8: a stable per-tensor stream id (Swift's Hasher is seeded
/// per process, so it cannot be used for reproducible streams).
func stableHash(_ string: String) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in string.utf8 {
        hash ^= UInt64(byte)
        hash &*= 0x0000_0100_0000_01B3
    }
    return hash
}
