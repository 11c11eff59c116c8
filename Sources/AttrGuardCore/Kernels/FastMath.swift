/// Branch-free exp and log for Float (Cephes' polynomials, about 1–2 ulp), written so that
/// the elementwise loops around them vectorise: libm's expf/log1pf are scalar calls and were
/// half of a SmallCNN step's time in softplus. Double keeps libm's exact results, which the
/// Float64 gradient checks and golden references rely on.

@inline(__always) func fastExp(_ v: Float) -> Float {
    let x = Swift.min(Swift.max(v, -87.0), 88.0)
    // Round to nearest by adding and removing 1.5·2²³ (|x·log2 e| < 2²²): a call to rintf would stop vectorisation.
    let n = (x * 1.442_695_04 + 12_582_912) - 12_582_912
    let r = x - n * 0.693_359_375 + n * 2.121_944_4e-4
    var p: Float = 1.987_569_15e-4
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 1.666_666_55e-1
    p = p * r + 5.000_000_12e-1
    let y = p * r * r + r + 1
    return y * Float(bitPattern: UInt32(bitPattern: Int32(n) + 127) << 23)
}

/// log(x) for finite x > 0.
@inline(__always) func fastLog(_ v: Float) -> Float {
    let bits = v.bitPattern
    var e = Float(Int32(bitPattern: (bits >> 23) & 0xFF) - 126)
    var m = Float(bitPattern: (bits & 0x807F_FFFF) | 0x3F00_0000)     // v = m · 2^e, m in [0.5, 1)
    let small = m < 0.707_106_781
    e = small ? e - 1 : e
    m = small ? m + m - 1 : m - 1
    let z = m * m
    var y: Float = 7.037_683_629_2e-2
    y = y * m - 1.151_461_031_0e-1
    y = y * m + 1.167_699_874_0e-1
    y = y * m - 1.242_014_084_6e-1
    y = y * m + 1.424_932_278_7e-1
    y = y * m - 1.666_805_766_5e-1
    y = y * m + 2.000_071_476_5e-1
    y = y * m - 2.499_999_399_3e-1
    y = y * m + 3.333_333_117_4e-1
    y = y * m * z
    y += -2.121_944_40e-4 * e
    y += -0.5 * z
    return m + y + 0.693_359_375 * e
}

/// log(1 + t) for t in [0, 1], accurate for tiny t as well.
@inline(__always) func fastLog1p(_ t: Float) -> Float {
    let u = 1 + t, d = u - 1
    return d == 0 ? t : fastLog(u) * (t / d)
}
