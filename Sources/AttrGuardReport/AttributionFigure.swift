import AttrGuardAttribution
import CPNG
import Foundation

/// attributions.png: one row per sample — image, its attribution map, attacked image, attacked
/// map — under column titles, each row labelled with the class and its top-k intersection and
/// Kendall τ, so the figure can go into a paper as it is. The grid is drawn pixel by pixel (each
/// input pixel a `scale`×`scale` block; maps in a black–red–yellow–white "hot" colour map scaled to
/// each map's maximum), embedded as a PNG in an SVG that carries the text, rendered by librsvg.
public enum AttributionFigure {
    /// One row: the clean and attacked image ([C,H,W] in the network's units), their maps, the
    /// class the maps explain, and the row's scores (nil when not finite).
    public struct Row: Sendable {
        public var image: [Double], map: AttributionMap, attacked: [Double], attackedMap: AttributionMap
        public var className: String
        public var topKIntersection: Double?, kendall: Double?

        public init(image: [Double], map: AttributionMap, attacked: [Double], attackedMap: AttributionMap, className: String,
                    topKIntersection: Double?, kendall: Double?) {
            self.image = image; self.map = map; self.attacked = attacked; self.attackedMap = attackedMap
            self.className = className; self.topKIntersection = topKIntersection; self.kendall = kendall
        }
    }

    /// What the figure shows, for its titles: the method, the attack, ε in pixel units and k.
    public struct Caption: Sendable {
        public var method: String, attack: String, epsilon: Double, k: Int
        public init(method: String, attack: String, epsilon: Double, k: Int) {
            self.method = method; self.attack = attack; self.epsilon = epsilon; self.k = k
        }
    }

    /// The labelled figure as PNG bytes (written through the output layer, `writeAtomically`).
    public static func pngData(_ rows: [Row], caption: Caption, imageShape: [Int],
                               normalization: (mean: [Double], std: [Double])?, scale: Int = 4) throws -> Data {
        let grid = try gridPNG(rows, imageShape: imageShape, normalization: normalization, scale: scale)
        let cell = Double(imageShape[2] * scale), rowHeight = Double(imageShape[1] * scale), gap = Double(gridGap)
        let gridWidth = 4 * cell + 5 * gap, gridHeight = Double(rows.count) * (rowHeight + gap) + gap
        let top = 58.0, labels = 240.0
        let width = gridWidth + labels, height = top + gridHeight
        let titles = ["image", "map (\(caption.method))", "attacked (\(caption.attack))", "attacked map"]
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="\(width)" height="\(height)" \
        viewBox="0 0 \(width) \(height)" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(width / 2)" y="20" font-size="14" font-weight="bold" text-anchor="middle">\(escape(
            "\(caption.method) under the \(caption.attack) attack, ε = \(String(format: "%g", caption.epsilon * 255))/255, k = \(caption.k)"))</text>

        """
        for (i, t) in titles.enumerated() {
            let x = gap + Double(i) * (cell + gap) + cell / 2
            svg += "<text x=\"\(x)\" y=\"48\" font-size=\"12\" text-anchor=\"middle\">\(escape(t))</text>\n"
        }
        svg += "<image x=\"0\" y=\"\(top)\" width=\"\(gridWidth)\" height=\"\(gridHeight)\" xlink:href=\"data:image/png;base64,\(grid.base64EncodedString())\"/>\n"
        func score(_ v: Double?) -> String { v.map { String(format: "%.2f", $0) } ?? "–" }
        for (r, row) in rows.enumerated() {
            let y = top + gap + Double(r) * (rowHeight + gap) + rowHeight / 2
            svg += "<text x=\"\(gridWidth + 8)\" y=\"\(y - 6)\" font-size=\"13\" font-weight=\"bold\">\(escape(row.className))</text>\n"
            svg += "<text x=\"\(gridWidth + 8)\" y=\"\(y + 14)\" font-size=\"12\">\(escape("top-k ∩ \(score(row.topKIntersection)) · Kendall τ \(score(row.kendall))"))</text>\n"
        }
        svg += "</svg>\n"
        return try renderPNG(svg: svg, name: "attributions.png", scale: 1)
    }

    static let gridGap = 4

    /// The grid alone, pixel for pixel.
    static func gridPNG(_ rows: [Row], imageShape: [Int], normalization: (mean: [Double], std: [Double])?, scale: Int) throws -> Data {
        let (c, h, w) = (imageShape[0], imageShape[1], imageShape[2])
        let cell = w * scale, gap = gridGap
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
