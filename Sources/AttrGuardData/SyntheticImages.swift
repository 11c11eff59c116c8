import AttrGuardCore
import Foundation

/// Procedurally drawn images for demos and tests that need no download: class c is a pattern
/// of stripes with a class-specific orientation and frequency, a class-specific colour tint,
/// a random phase and position, and pixel noise. Values in [0, 1], layout [N, 3, S, S].
public enum SyntheticImages {
    /// `count` images [count, 3, size, size] in [0, 1] with class-dependent patterns and their labels, the same for the same seed.
    public static func generate(count: Int, classes: Int, size: Int, seed: UInt64, dtype: DType = .float32)
        -> (images: Tensor, labels: [Int]) {
        var values = [Double](repeating: 0, count: count * 3 * size * size)
        var labels: [Int] = []
        labels.reserveCapacity(count)
        for i in 0..<count {
            var rng = RandomStream(seed: seed, .syntheticImages, UInt64(i))
            let c = i % classes
            labels.append(c)
            let angle = Double.pi * Double(c) / Double(classes)
            let frequency = 2 * Double.pi * (1.5 + Double(c % 3)) / Double(size)
            let phase = rng.uniform(0, 2 * Double.pi)
            let tint = [0.5 + 0.4 * cos(Double(c)), 0.5 + 0.4 * sin(Double(c) * 1.7), 0.5 + 0.4 * cos(Double(c) * 2.3)]
            let (cx, cy) = (rng.uniform(0.3, 0.7) * Double(size), rng.uniform(0.3, 0.7) * Double(size))
            for ch in 0..<3 {
                for h in 0..<size {
                    for w in 0..<size {
                        let u = Double(w) - cx, v = Double(h) - cy
                        let stripe = 0.5 + 0.5 * sin(frequency * (u * cos(angle) + v * sin(angle)) + phase)
                        let envelope = exp(-(u * u + v * v) / (0.5 * Double(size * size)))
                        let pixel = 0.1 + 0.8 * tint[ch] * stripe * envelope + 0.05 * rng.normal()
                        values[((i * 3 + ch) * size + h) * size + w] = Swift.min(1, Swift.max(0, pixel))
                    }
                }
            }
        }
        return (Tensor(shape: [count, 3, size, size], values: values, dtype: dtype), labels)
    }
}
