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
    public func topK(_ k: Int) -> [Int] { Array(descendingOrder.prefix(k)) }

    /// Every pixel index, largest value first, ties by the lower index.
    public var descendingOrder: [Int] {
        values.indices.sorted { values[$0] != values[$1] ? values[$0] > values[$1] : $0 < $1 }
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
    sharedShare(a.topK(k), b.topK(k), k: k)
}

/// LENS top-k intersection with a w×w window (w odd; 1 is the plain top-k intersection): LENS-recall
/// at half-width w/2.
public func lensTopKIntersection(_ a: AttributionMap, _ b: AttributionMap, k: Int, window w: Int) -> Double {
    lensRecall(a, b, k: k, halfWidth: w / 2)
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
    public var kendall, spearman, cosine, topKIntersection: Double
    /// LENS-recall with the window of `init(window:)` (the report's `lens_topk_intersection`).
    public var lensTopKIntersection: Double
    /// Rank correlations of the maps after a window×window max-pool (a reading of the LENS
    /// workshop text's LENS-Kendall/Spearman, which has no code).
    public var maxPooledKendall, maxPooledSpearman: Double
    /// Pearson's r of the maps; SSIM (7×7) and MSE of the maps divided by their maximum.
    public var pearson, ssim, mse: Double
    /// One value per half-width in `halfWidths`: LENS-recall@k, LENS-prec@k, topk-div
    /// intersection, LENS-recall@k-div, LENS-prec@k-div.
    public var lensRecall, lensPrecision, topKDivIntersection, lensRecallDiv, lensPrecisionDiv: [Double]
    /// 8-connected regions formed by each map's top-k pixels (1: one blob).
    public var regionsOriginal, regionsAttacked: Int
    /// w of the LENS family's values, in order.
    public let halfWidths: [Int]

    /// w of the LENS family by default: 3×3, 5×5 and 7×7 windows.
    public static let defaultHalfWidths = [1, 2, 3]

    /// Every metric between map `a` and its attacked `b` (same size); `window` is the full width of the max-pool and LENS top-k, `halfWidths` those of the LENS family.
    public init(_ a: AttributionMap, _ b: AttributionMap, k: Int, window: Int, halfWidths: [Int] = defaultHalfWidths) {
        require(a.height == b.height && a.width == b.width, "metrics: maps \(a.height)×\(a.width) and \(b.height)×\(b.width) differ")
        self.halfWidths = halfWidths
        kendall = kendallTau(a.values, b.values)
        spearman = spearmanRho(a.values, b.values)
        cosine = cosineSimilarity(a.values, b.values)
        // Each map sorted once, shared by the top-k, LENS and diverse top-k metrics.
        let oa = a.descendingOrder, ob = b.descendingOrder
        let ta = Array(oa.prefix(k)), tb = Array(ob.prefix(k))
        topKIntersection = sharedShare(ta, tb, k: k)
        lensTopKIntersection = nearShare(a, ta, tb, halfWidth: window / 2, k: k)
        let pa = a.maxPooled(window), pb = b.maxPooled(window)
        maxPooledKendall = kendallTau(pa.values, pb.values)
        maxPooledSpearman = spearmanRho(pa.values, pb.values)
        pearson = AttrGuardAttribution.pearson(a.values, b.values)
        let na = a.maxNormalized, nb = b.maxNormalized
        ssim = AttrGuardAttribution.ssim(na, nb, height: a.height, width: a.width)
        mse = meanSquaredError(na, nb)
        lensRecall = halfWidths.map { nearShare(a, ta, tb, halfWidth: $0, k: k) }
        lensPrecision = halfWidths.map { nearShare(b, tb, ta, halfWidth: $0, k: k) }
        let div = halfWidths.map { diverseTopKMetrics(a, b, k: k, halfWidth: $0, orders: (oa, ob)) }
        topKDivIntersection = div.map(\.intersection)
        lensRecallDiv = div.map(\.recall)
        lensPrecisionDiv = div.map(\.precision)
        regionsOriginal = topKRegions(a, k: k)
        regionsAttacked = topKRegions(b, k: k)
    }

    static let families = ["lens_recall", "lens_precision", "topk_div_intersection", "lens_recall_div", "lens_precision_div"]

    /// The metric names (JSON keys), in report order, for the LENS family at `halfWidths`.
    public static func names(halfWidths: [Int] = defaultHalfWidths) -> [String] {
        ["kendall", "spearman", "cosine", "topk_intersection", "lens_topk_intersection",
         "maxpooled_kendall", "maxpooled_spearman", "pearson", "ssim", "mse"]
            + families.flatMap { f in halfWidths.map { "\(f)_w\($0)" } } + ["topk_regions_original", "topk_regions_attacked"]
    }

    /// The values by name, in `names(halfWidths:)` order.
    public var named: [(String, Double)] {
        let values = [kendall, spearman, cosine, topKIntersection, lensTopKIntersection, maxPooledKendall, maxPooledSpearman, pearson, ssim, mse]
            + lensRecall + lensPrecision + topKDivIntersection + lensRecallDiv + lensPrecisionDiv + [Double(regionsOriginal), Double(regionsAttacked)]
        return Array(zip(Self.names(halfWidths: halfWidths), values))
    }
}
