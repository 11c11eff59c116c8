import AttrGuardCore
import Foundation

/// Training-time augmentation, drawn per (seed, epoch, dataset index): a sample is augmented
/// the same way whichever rank loads it, so results do not depend on the rank count.
public enum Augmentation: Sendable, Equatable {
    case none
    /// Zero-pad by `padding`, take a random crop of the original size, flip horizontally with p = ½ (CIFAR).
    case cropFlip(padding: Int)
    /// Random crop of area fraction in [minScale, 1] and aspect ratio in [3/4, 4/3], resized
    /// back to the image size (nearest pixel), then a horizontal flip with p = ½ (ImageNet-style, cheap).
    case resizedCropFlip(minScale: Double)
}

/// Turns dataset indices into a float batch [B, C, H, W] in [0, 1] (or normalised per channel).
public struct BatchLoader: Sendable {
    public let store: ImageStore
    public var augmentation: Augmentation
    /// Per-channel (mean, std) applied after scaling to [0, 1]; nil keeps pixels in [0, 1].
    public var normalization: (mean: [Double], std: [Double])?
    public var seed: UInt64

    /// Batches of `store` with `augmentation` drawn per (seed, epoch, image) and the pixels normalised by (mean, std) per channel when given.
    public init(store: ImageStore, augmentation: Augmentation = .none,
                normalization: (mean: [Double], std: [Double])? = nil, seed: UInt64 = 0) {
        self.store = store; self.augmentation = augmentation; self.normalization = normalization; self.seed = seed
    }

    /// The images at `indices` as floats [B, C, H, W] (augmented, normalised) and their labels;
    /// throws when a packed file's checksum shows the pixels damaged.
    public func batch(_ indices: [Int], epoch: Int, dtype: DType = .float32) throws -> (images: Tensor, labels: [Int]) {
        try store.verify(indices)
        let (c, h, w) = (store.imageShape[0], store.imageShape[1], store.imageShape[2])
        var out = Tensor(zeros: [indices.count, c, h, w], dtype: .float32)
        let o = out.mutablePointer(Float.self)
        // pixel → (pixel/255 − mean)/std as one multiply-add per channel
        var scale = [Float](repeating: 1 / 255, count: c), shift = [Float](repeating: 0, count: c)
        if let n = normalization {
            for ch in 0..<c { scale[ch] = Float(1 / (255 * n.std[ch])); shift[ch] = Float(-n.mean[ch] / n.std[ch]) }
        }
        for (j, index) in indices.enumerated() {
            var rng = RandomStream(seed: seed, .augmentation, UInt64(epoch), UInt64(index))
            let src = store.pixels(index).baseAddress!
            let dst = o + j * c * h * w
            switch augmentation {
            case .none:
                for ch in 0..<c {
                    let s = scale[ch], t = shift[ch]
                    for p in 0..<(h * w) { dst[ch * h * w + p] = Float(src[ch * h * w + p]) * s + t }
                }
            case .cropFlip(let pad):
                let dy = Int(rng.next() % UInt64(2 * pad + 1)) - pad, dx = Int(rng.next() % UInt64(2 * pad + 1)) - pad
                let flip = rng.next() & 1 == 1
                for ch in 0..<c {
                    let s = scale[ch], t = shift[ch]
                    for y in 0..<h {
                        let sy = y + dy
                        let row = dst + ch * h * w + y * w
                        guard sy >= 0 && sy < h else { for x in 0..<w { row[x] = t }; continue }   // zero pixel
                        let srow = src + ch * h * w + sy * w
                        for x in 0..<w {
                            let sx = (flip ? w - 1 - x : x) + dx
                            row[x] = (sx >= 0 && sx < w) ? Float(srow[sx]) * s + t : t
                        }
                    }
                }
            case .resizedCropFlip(let minScale):
                let area = rng.uniform(minScale, 1) * Double(h * w)
                let ratio = (rng.uniform(-0.2877, 0.2877)).exponential   // log-uniform in [3/4, 4/3]
                let ch0 = min(h, max(1, Int((area / ratio).squareRoot().rounded())))
                let cw0 = min(w, max(1, Int((area * ratio).squareRoot().rounded())))
                let y0 = Int(rng.next() % UInt64(h - ch0 + 1)), x0 = Int(rng.next() % UInt64(w - cw0 + 1))
                let flip = rng.next() & 1 == 1
                for ch in 0..<c {
                    let s = scale[ch], t = shift[ch]
                    for y in 0..<h {
                        let sy = y0 + y * ch0 / h
                        for x in 0..<w {
                            let xx = flip ? w - 1 - x : x
                            let sx = x0 + xx * cw0 / w
                            dst[ch * h * w + y * w + x] = Float(src[ch * h * w + sy * w + sx]) * s + t
                        }
                    }
                }
            }
        }
        if dtype == .float64 { out = out.converted(to: .float64) }
        return (out, indices.map { store.labels[$0] })
    }
}

private extension Double { var exponential: Double { Foundation.exp(self) } }
