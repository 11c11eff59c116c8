import AttrGuardCore

/// Top-k and LENS (locality-sensitive) metrics on H×W attribution maps.

/// An H×W attribution map, row-major.
public struct AttributionMap: Sendable, Equatable {
    public let values: [Double]
    public let height: Int, width: Int

    public init(values: [Double], height: Int, width: Int) {
        require(values.count == height * width, "AttributionMap: \(values.count) values for \(height)×\(width)")
        self.values = values; self.height = height; self.width = width
    }

    /// Indices of the k largest values, ties broken by the lower index
    /// (NumPy: `np.argsort(-m, kind='stable')[:k]`).
    public func topK(_ k: Int) -> [Int] {
        Array(values.indices.sorted { values[$0] != values[$1] ? values[$0] > values[$1] : $0 < $1 }.prefix(k))
    }

    /// Max over each w×w window (stride 1, no padding): (H−w+1)×(W−w+1).
    public func maxPooled(_ w: Int) -> AttributionMap {
        guard w > 1 else { return self }
        let h = height - w + 1, wd = width - w + 1
        var out = [Double](repeating: 0, count: max(h, 0) * max(wd, 0))
        for y in 0..<max(h, 0) {
            for x in 0..<max(wd, 0) {
                var m = -Double.infinity
                for dy in 0..<w { for dx in 0..<w { m = max(m, values[(y + dy) * width + x + dx]) } }
                out[y * wd + x] = m
            }
        }
        return AttributionMap(values: out, height: max(h, 0), width: max(wd, 0))
    }
}

/// |top_k(a) ∩ top_k(b)| / k.
public func topKIntersection(_ a: AttributionMap, _ b: AttributionMap, k: Int) -> Double {
    let sa = Set(a.topK(k))
    return Double(b.topK(k).filter { sa.contains($0) }.count) / Double(k)
}

/// LENS top-k intersection: the fraction of b's top-k pixels with some top-k pixel of a in the
/// w×w window centred on it (w = 1 is the plain top-k intersection).
public func lensTopKIntersection(_ a: AttributionMap, _ b: AttributionMap, k: Int, window w: Int) -> Double {
    var mask = [Bool](repeating: false, count: a.values.count)
    for i in a.topK(k) { mask[i] = true }
    let r = w / 2
    var matched = 0
    for i in b.topK(k) {
        let y = i / b.width, x = i % b.width
        search: for dy in -r...r {
            for dx in -r...r {
                let yy = y + dy, xx = x + dx
                if yy >= 0 && yy < a.height && xx >= 0 && xx < a.width && mask[yy * a.width + xx] { matched += 1; break search }
            }
        }
    }
    return Double(matched) / Double(k)
}

/// Diversity of an attribution: the number of separate regions (8-connected components) its
/// top-k pixels form. One blob scores 1; a map spread over several objects scores more.
public func topKRegions(_ m: AttributionMap, k: Int) -> Int {
    var mask = [Bool](repeating: false, count: m.values.count)
    for i in m.topK(k) { mask[i] = true }
    var seen = [Bool](repeating: false, count: mask.count)
    var regions = 0
    for start in mask.indices where mask[start] && !seen[start] {
        regions += 1
        var stack = [start]
        seen[start] = true
        while let i = stack.popLast() {
            let y = i / m.width, x = i % m.width
            for dy in -1...1 {
                for dx in -1...1 {
                    let yy = y + dy, xx = x + dx
                    guard yy >= 0 && yy < m.height && xx >= 0 && xx < m.width else { continue }
                    let j = yy * m.width + xx
                    if mask[j] && !seen[j] { seen[j] = true; stack.append(j) }
                }
            }
        }
    }
    return regions
}

/// Every robustness metric between an attribution map and its attacked counterpart.
public struct AttributionComparison: Sendable, Equatable {
    public var kendall, spearman, cosine, topKIntersection, lensTopKIntersection, lensKendall, lensSpearman: Double
    public var regionsOriginal, regionsAttacked: Int

    public init(_ a: AttributionMap, _ b: AttributionMap, k: Int, window: Int) {
        require(a.height == b.height && a.width == b.width, "metrics: maps \(a.height)×\(a.width) and \(b.height)×\(b.width) differ")
        kendall = kendallTau(a.values, b.values)
        spearman = spearmanRho(a.values, b.values)
        cosine = cosineSimilarity(a.values, b.values)
        topKIntersection = AttrGuardAttribution.topKIntersection(a, b, k: k)
        lensTopKIntersection = AttrGuardAttribution.lensTopKIntersection(a, b, k: k, window: window)
        let pa = a.maxPooled(window), pb = b.maxPooled(window)
        lensKendall = kendallTau(pa.values, pb.values)
        lensSpearman = spearmanRho(pa.values, pb.values)
        regionsOriginal = topKRegions(a, k: k)
        regionsAttacked = topKRegions(b, k: k)
    }

    /// The metric names (JSON keys), in report order.
    public static let names = ["kendall", "spearman", "cosine", "topk_intersection", "lens_topk_intersection",
                               "lens_kendall", "lens_spearman", "topk_regions_original", "topk_regions_attacked"]

    /// The values by name, in `names` order.
    public var named: [(String, Double)] {
        Array(zip(Self.names, [kendall, spearman, cosine, topKIntersection, lensTopKIntersection, lensKendall, lensSpearman,
                               Double(regionsOriginal), Double(regionsAttacked)]))
    }
}
