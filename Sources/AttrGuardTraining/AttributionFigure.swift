import AttrGuardAttribution
import AttrGuardReport
import CPNG
import Foundation

/// A PNG grid, one row per sample: image, its attribution map, attacked image, attacked map.
/// Maps use a black–red–yellow–white ("hot") colour map scaled to each map's maximum.
public enum AttributionFigure {
    /// The grid as PNG bytes (written through the output layer, `writeAtomically`).
    public static func pngData(_ rows: [(image: [Double], map: AttributionMap, attacked: [Double], attackedMap: AttributionMap)],
                             imageShape: [Int], normalization: (mean: [Double], std: [Double])?, scale: Int = 4) throws -> Data {
        let (c, h, w) = (imageShape[0], imageShape[1], imageShape[2])
        let cell = w * scale, gap = 4
        let width = 4 * cell + 5 * gap, height = rows.count * (h * scale + gap) + gap
        var rgb = [UInt8](repeating: 255, count: width * height * 3)
        func put(_ col: Int, _ row: Int, _ pixel: (Int, Int) -> (Double, Double, Double)) {
            let x0 = gap + col * (cell + gap), y0 = gap + row * (h * scale + gap)
            for y in 0..<(h * scale) {
                for x in 0..<(w * scale) {
                    let (r, g, b) = pixel(y / scale, x / scale)
                    let o = ((y0 + y) * width + x0 + x) * 3
                    rgb[o] = UInt8(max(0, min(255, (r * 255).rounded())))
                    rgb[o + 1] = UInt8(max(0, min(255, (g * 255).rounded())))
                    rgb[o + 2] = UInt8(max(0, min(255, (b * 255).rounded())))
                }
            }
        }
        func image(_ v: [Double]) -> (Int, Int) -> (Double, Double, Double) {
            { y, x in
                func ch(_ k: Int) -> Double {
                    let raw = v[(min(k, c - 1) * h + y) * w + x]
                    return normalization.map { raw * $0.std[min(k, $0.std.count - 1)] + $0.mean[min(k, $0.mean.count - 1)] } ?? raw
                }
                return (ch(0), ch(1), ch(2))
            }
        }
        func heat(_ m: AttributionMap) -> (Int, Int) -> (Double, Double, Double) {
            let top = max(m.values.max() ?? 1, 1e-12)
            return { y, x in
                let t = m.values[y * m.width + x] / top
                return (min(1, 3 * t), min(1, max(0, 3 * t - 1)), min(1, max(0, 3 * t - 2)))
            }
        }
        for (r, row) in rows.enumerated() {
            put(0, r, image(row.image)); put(1, r, heat(row.map)); put(2, r, image(row.attacked)); put(3, r, heat(row.attackedMap))
        }
        var bytes: UnsafeMutableRawPointer?
        var length = 0
        guard cpng_encode_rgb(UInt32(width), UInt32(height), rgb, &bytes, &length) != 0, let bytes else {
            throw ReportError(file: "attribution figure", "libpng could not encode a \(width)×\(height) image (out of memory)")
        }
        defer { free(bytes) }
        return Data(bytes: bytes, count: length)
    }
}
