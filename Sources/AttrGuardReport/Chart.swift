import Foundation

/// Plots as SVG text, with no dependency: a figure is a grid of panels, a panel holds series of
/// (x, y) points drawn as lines and/or markers, on axes with rounded ("nice") ticks that enclose
/// every point. Used for training curves and the accuracy–robustness trade-off.

/// One line or set of markers in a panel.
public struct Series: Sendable {
    public var name: String
    public var points: [(x: Double, y: Double)]
    /// Text beside each point (e.g. the λ of a sweep), or none.
    public var pointLabels: [String]?
    public var line = true
    public var markers = false
    /// Index into the palette; series of the same name share a colour across panels.
    public var color = 0

    public init(name: String, points: [(x: Double, y: Double)], pointLabels: [String]? = nil, line: Bool = true, markers: Bool = false, color: Int = 0) {
        self.name = name; self.points = points.filter { $0.x.isFinite && $0.y.isFinite }
        self.pointLabels = pointLabels.map { labels in zip(points, labels).filter { $0.0.x.isFinite && $0.0.y.isFinite }.map(\.1) }
        self.line = line; self.markers = markers; self.color = color
    }
}

/// One plot: title, axis labels, series.
public struct Panel: Sendable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    public init(title: String, xLabel: String, yLabel: String, series: [Series]) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.series = series
    }

    /// The axes: nice ranges enclosing every point, with their ticks.
    public var xAxis: Axis { Axis(enclosing: series.flatMap { $0.points.map(\.x) }) }
    public var yAxis: Axis { Axis(enclosing: series.flatMap { $0.points.map(\.y) }) }
}

/// A linear axis from `low` to `high` with ticks at multiples of `step` (1, 2 or 5 × 10ⁿ).
public struct Axis: Sendable, Equatable {
    public let low: Double, high: Double, step: Double

    public init(enclosing values: [Double]) {
        let finite = values.filter(\.isFinite)
        var lo = finite.min() ?? 0, hi = finite.max() ?? 1
        if hi - lo < 1e-12 * max(1, abs(hi)) { lo -= max(0.5, abs(lo) * 0.1); hi += max(0.5, abs(hi) * 0.1) }
        let raw = (hi - lo) / 5, magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        self.step = step
        low = (finite.min() ?? 0) >= 0 ? max(0, floor(lo / step) * step) : floor(lo / step) * step   // non-negative data keeps a non-negative axis
        high = ceil(hi / step) * step
    }

    public var ticks: [Double] {
        let n = Int(((high - low) / step).rounded())
        return (0...n).map { low + Double($0) * step }
    }

    public func contains(_ v: Double) -> Bool { v >= low - 1e-9 * step && v <= high + 1e-9 * step }

    func label(_ v: Double) -> String {
        let digits = max(0, -Int(floor(log10(step))))
        if abs(v) >= 1e5 || (abs(v) < 1e-3 && v != 0 && digits > 4) { return String(format: "%.2g", v) }
        return String(format: "%.\(digits)f", abs(v) < step / 1e6 ? 0 : v)
    }
}

/// Panels in a grid under a title, with one legend.
public struct Figure: Sendable {
    public var title: String
    public var panels: [Panel]
    public var columns: Int
    public var panelWidth = 420.0, panelHeight = 300.0

    public init(title: String, panels: [Panel], columns: Int = 2) {
        self.title = title; self.panels = panels; self.columns = max(1, min(columns, panels.count))
    }

    /// Colours that stay apart for the colour-blind (Okabe–Ito; its pale yellow last, as it is faint on white).
    static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#7F3C8D", "#999999", "#F0E442"]

    /// The figure as an SVG document.
    public func svg() -> String {
        let rows = (panels.count + columns - 1) / columns
        // The legend: every series name once, in first-seen order, with its colour.
        var legend: [(String, Int, Bool, Bool)] = []
        for p in panels { for s in p.series where !legend.contains(where: { $0.0 == s.name }) { legend.append((s.name, s.color, s.line, s.markers)) } }
        // Columns at least 190 px, wider for long names (≈ 0.6 em a character at the legend's 13 px, plus the swatch).
        let legendWidth = max(190, 0.6 * 13 * Double(legend.map(\.0.count).max() ?? 0) + 40)
        let legendColumns = max(1, Int(Double(columns) * panelWidth / legendWidth))
        let legendRows = (legend.count + legendColumns - 1) / legendColumns
        let top = 40.0, legendHeight = Double(legendRows) * 20 + 10
        let width = Double(columns) * panelWidth, height = top + Double(rows) * panelHeight + legendHeight
        let titleSize = min(17, (width - 20) / (0.62 * Double(max(title.count, 1))))   // a long title shrinks to fit (bold ≈ 0.62 em a character)
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(fmt(width))" height="\(fmt(height))" viewBox="0 0 \(fmt(width)) \(fmt(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(fmt(width / 2))" y="26" font-size="\(fmt(titleSize))" text-anchor="middle" font-weight="bold">\(escape(title))</text>

        """
        for (i, p) in panels.enumerated() {
            out += panelSVG(p, x0: Double(i % columns) * panelWidth, y0: top + Double(i / columns) * panelHeight)
        }
        let ly = top + Double(rows) * panelHeight + 8
        for (i, (name, color, line, markers)) in legend.enumerated() {
            let x = 20 + Double(i % legendColumns) * legendWidth, y = ly + Double(i / legendColumns) * 20
            let c = Self.palette[color % Self.palette.count]
            if line { out += "<line x1=\"\(fmt(x))\" y1=\"\(fmt(y + 6))\" x2=\"\(fmt(x + 24))\" y2=\"\(fmt(y + 6))\" stroke=\"\(c)\" stroke-width=\"2.5\"/>\n" }
            if markers || !line { out += "<circle cx=\"\(fmt(x + 12))\" cy=\"\(fmt(y + 6))\" r=\"4.5\" fill=\"\(c)\"/>\n" }
            out += "<text x=\"\(fmt(x + 30))\" y=\"\(fmt(y + 11))\" font-size=\"13\">\(escape(name))</text>\n"
        }
        return out + "</svg>\n"
    }

    private func panelSVG(_ p: Panel, x0: Double, y0: Double) -> String {
        // Plot area inside the panel, leaving room for ticks and axis titles.
        let left = x0 + 68, right = x0 + panelWidth - 18, top = y0 + 30, bottom = y0 + panelHeight - 52
        let xa = p.xAxis, ya = p.yAxis
        func sx(_ v: Double) -> Double { left + (v - xa.low) / (xa.high - xa.low) * (right - left) }
        func sy(_ v: Double) -> Double { bottom - (v - ya.low) / (ya.high - ya.low) * (bottom - top) }
        var s = "<g>\n<text x=\"\(fmt((left + right) / 2))\" y=\"\(fmt(y0 + 18))\" font-size=\"14\" text-anchor=\"middle\">\(escape(p.title))</text>\n"
        s += "<rect x=\"\(fmt(left))\" y=\"\(fmt(top))\" width=\"\(fmt(right - left))\" height=\"\(fmt(bottom - top))\" fill=\"none\" stroke=\"#444\"/>\n"
        for t in xa.ticks {
            let x = sx(t)
            s += "<line x1=\"\(fmt(x))\" y1=\"\(fmt(top))\" x2=\"\(fmt(x))\" y2=\"\(fmt(bottom))\" stroke=\"#e4e4e4\"/>\n"
            s += "<text x=\"\(fmt(x))\" y=\"\(fmt(bottom + 16))\" font-size=\"11\" text-anchor=\"middle\">\(xa.label(t))</text>\n"
        }
        for t in ya.ticks {
            let y = sy(t)
            s += "<line x1=\"\(fmt(left))\" y1=\"\(fmt(y))\" x2=\"\(fmt(right))\" y2=\"\(fmt(y))\" stroke=\"#e4e4e4\"/>\n"
            s += "<text x=\"\(fmt(left - 6))\" y=\"\(fmt(y + 4))\" font-size=\"11\" text-anchor=\"end\">\(ya.label(t))</text>\n"
        }
        s += "<text x=\"\(fmt((left + right) / 2))\" y=\"\(fmt(bottom + 36))\" font-size=\"12.5\" text-anchor=\"middle\">\(escape(p.xLabel))</text>\n"
        let yMid = (top + bottom) / 2
        s += "<text x=\"\(fmt(x0 + 16))\" y=\"\(fmt(yMid))\" font-size=\"12.5\" text-anchor=\"middle\" transform=\"rotate(-90 \(fmt(x0 + 16)) \(fmt(yMid)))\">\(escape(p.yLabel))</text>\n"
        var labelBoxes: [(Double, Double, Double, Double)] = []   // (x0, y0, x1, y1) of the point labels drawn
        for series in p.series where !series.points.isEmpty {
            let c = Self.palette[series.color % Self.palette.count]
            if series.line && series.points.count > 1 {
                let pts = series.points.map { "\(fmt(sx($0.x))),\(fmt(sy($0.y)))" }.joined(separator: " ")
                s += "<polyline points=\"\(pts)\" fill=\"none\" stroke=\"\(c)\" stroke-width=\"2\" stroke-linejoin=\"round\"/>\n"
            }
            if series.markers || !series.line || series.points.count == 1 {
                for pt in series.points { s += "<circle cx=\"\(fmt(sx(pt.x)))\" cy=\"\(fmt(sy(pt.y)))\" r=\"5\" fill=\"\(c)\" stroke=\"white\" stroke-width=\"1\"/>\n" }
            }
            if let labels = series.pointLabels {
                for (pt, label) in zip(series.points, labels) where !label.isEmpty {
                    // The first spot around the point (above right, below right, above left, below left)
                    // whose box overlaps no label placed so far and stays inside the plot.
                    let w = 6.4 * Double(label.count), px = sx(pt.x), py = sy(pt.y)
                    let spots: [(dx: Double, dy: Double, anchor: String)] = [(7, -7, "start"), (7, 15, "start"), (-7, -7, "end"), (-7, 15, "end")]
                    func box(_ spot: (dx: Double, dy: Double, anchor: String)) -> (Double, Double, Double, Double) {
                        let x0 = spot.anchor == "start" ? px + spot.dx : px + spot.dx - w
                        return (x0, py + spot.dy - 10, x0 + w, py + spot.dy + 2)
                    }
                    let free = spots.first { spot in
                        let b = box(spot)
                        return b.0 >= left && b.2 <= right && b.1 >= top && b.3 <= bottom
                            && !labelBoxes.contains { o in b.0 < o.2 && o.0 < b.2 && b.1 < o.3 && o.1 < b.3 }
                    } ?? spots[0]
                    labelBoxes.append(box(free))
                    s += "<text x=\"\(fmt(px + free.dx))\" y=\"\(fmt(py + free.dy))\" font-size=\"11\" text-anchor=\"\(free.anchor)\" fill=\"\(c)\">\(escape(label))</text>\n"
                }
            }
        }
        return s + "</g>\n"
    }
}

func fmt(_ v: Double) -> String { String(format: "%.1f", v) }

/// s with XML's special characters escaped, for SVG text and attributes.
public func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        .replacingOccurrences(of: "\"", with: "&quot;")
}
