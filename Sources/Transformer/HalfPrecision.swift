// IEEE half (F16) and bfloat16 (BF16) <-> Float conversions by bit manipulation. Written out
// rather than using Swift's Float16, which macOS on Intel lacks.

public enum HalfPrecision {
    /// F16 bits -> Float, exact (every half is a Float), subnormals, ±inf and NaN included.
    @inline(__always)
    public static func float(fromF16 bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = Int(bits >> 10) & 0x1F
        let mantissa = UInt32(bits & 0x03FF)
        if exponent == 0x1F {  // inf / NaN: keep the payload
            return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
        }
        if exponent == 0 {  // zero / subnormal: mantissa × 2^-24, exact in Float
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        }
        return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | mantissa << 13)
    }

    /// BF16 bits -> Float: the top half of a Float, exact.
    @inline(__always)
    public static func float(fromBF16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Float -> F16 bits, round to nearest even; overflow gives ±inf, NaN stays NaN.
    public static func f16Bits(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let exponent = Int((bits >> 23) & 0xFF)
        let mantissa = bits & 0x007F_FFFF
        if exponent == 0xFF {
            return sign | 0x7C00 | (mantissa != 0 ? 0x0200 | UInt16(mantissa >> 13) : 0)
        }
        let halfExponent = exponent - 127 + 15
        if halfExponent >= 0x1F { return sign | 0x7C00 }
        if halfExponent <= 0 {
            // Subnormal half (or zero): shift the full significand into place and round.
            if halfExponent < -10 { return sign }
            let significand = mantissa | 0x0080_0000
            let shift = UInt32(14 - halfExponent)
            var half = significand >> shift
            let remainder = significand & ((1 << shift) - 1)
            let halfway = UInt32(1) << (shift - 1)
            if remainder > halfway || (remainder == halfway && half & 1 == 1) { half += 1 }
            return sign | UInt16(half)
        }
        var half = UInt32(halfExponent) << 10 | mantissa >> 13
        let remainder = mantissa & 0x1FFF
        if remainder > 0x1000 || (remainder == 0x1000 && half & 1 == 1) { half += 1 }  // may carry into inf: correct
        return sign | UInt16(half)
    }

    /// Float -> BF16 bits, round to nearest even; NaN stays NaN.
    public static func bf16Bits(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x0040 }
        let rounding = 0x7FFF + ((bits >> 16) & 1)
        return UInt16((bits &+ rounding) >> 16)
    }
}
