/// What a random stream is for: every stream's first key, listed in one place so that no two
/// purposes share draws. The values are part of the results (changing one changes every run).
public enum RandomPurpose: UInt64, Sendable {
    /// Initial weights (ParameterSet).
    case parameters = 1
    /// The epoch's global order (EpochPlan), per epoch.
    case epochOrder = 0x0E90C4
    /// Crop and flip per (epoch, image) (BatchLoader).
    case augmentation = 0xA06
    /// The generated dataset's images (SyntheticImages).
    case syntheticImages = 0x5959
    /// x' = x + U[−ε, ε] of the regularizers and PGD's random start, per sample key (Perturbation).
    case perturbation = 0xE95
    /// SmoothGrad's noise per (sample key, draw).
    case smoothGradNoise = 0x5600
    /// The random-sign attack and the mass-center attack's first step, per sample key.
    case randomSigns = 0x5A5A
    /// Start points of attack restarts past the first, per (sample key, restart).
    case attackRestart = 0x5E57
    /// Random perturbation similarity's draws, per (sample key, draw).
    case randomPerturbation = 0x7A9D
    /// The hessian objective's probe v ~ N(0, I), per sample key.
    case hessianProbe = 0x4E55
    /// TRADES' start x + 0.001·N(0, I), per sample key.
    case tradesStart = 0x7AD5
    /// The sampling metrics' draws x′ − x, per (sample key, draw).
    case samplingNoise = 0x5A3D
}

/// Deterministic random streams. Every random draw in AttrGuard comes from a generator seeded
/// from (seed, purpose, indices), so results depend neither on the rank count nor on timing.
public struct RandomStream: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 ^ 0xD1B5_4A32_D192_ED03 }

    /// A stream for one (seed, purpose, index…) tuple, independent of every other tuple.
    public init(seed: UInt64, _ purpose: RandomPurpose, _ keys: UInt64...) {
        self.init(seed: seed, keys: [purpose.rawValue] + keys)
    }

    private init(seed: UInt64, keys: [UInt64]) {
        var s = seed
        for k in keys { s = RandomStream.mix(s ^ RandomStream.mix(k &+ 0x632B_E59B_D9B4_E019)) }
        self.init(seed: s)
    }

    /// SplitMix64.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return RandomStream.mix(state)
    }

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in [low, high).
    public mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * nextUnit() }

    /// Standard normal (Box–Muller).
    public mutating func normal() -> Double {
        let u1 = Swift.max(nextUnit(), 0x1.0p-60), u2 = nextUnit()
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
    }
}

import Foundation
@inline(__always) private func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Foundation.cos(x) }

extension Tensor {
    /// Elements drawn uniformly from [low, high).
    public static func uniform(_ shape: [Int], low: Double, high: Double, dtype: DType, rng: inout RandomStream) -> Tensor {
        Tensor(shape: shape, values: (0..<Shape.count(shape)).map { _ in rng.uniform(low, high) }, dtype: dtype)
    }

    /// Elements drawn from N(0, std²).
    public static func normal(_ shape: [Int], std: Double, dtype: DType, rng: inout RandomStream) -> Tensor {
        Tensor(shape: shape, values: (0..<Shape.count(shape)).map { _ in std * rng.normal() }, dtype: dtype)
    }
}
