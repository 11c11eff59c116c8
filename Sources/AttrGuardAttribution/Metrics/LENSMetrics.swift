/// The LENS metric family (Rethinking Robustness of Model Attributions, AAAI 2024; the authors'
/// code computes them in `eval_with_lens_attribution_attack.py` and `imagenet_topk_div_*.py`),
/// as ../shared/ALGORITHMS.md defines them. w is the half-width of the square window: w = 1 is
/// 3×3, 2 is 5×5, 3 is 7×7; windows are clipped at the image border in 2-D.

extension AttributionMap {
    /// D_w(S): every pixel within a (2w+1)×(2w+1) window of a pixel of S, as a mask.
    public func dilated(_ pixels: [Int], halfWidth w: Int) -> [Bool] {
        var mask = [Bool](repeating: false, count: values.count)
        for p in pixels { mark(&mask, around: p, halfWidth: w) }
        return mask
    }

    /// Sets mask[q] for every pixel q of the (2w+1)×(2w+1) window centred on p, clipped at the border.
    func mark(_ mask: inout [Bool], around p: Int, halfWidth w: Int) {
        let y = p / width, x = p % width
        for yy in max(0, y - w)...min(height - 1, y + w) {
            for xx in max(0, x - w)...min(width - 1, x + w) { mask[yy * width + xx] = true }
        }
    }

    /// Div_k: greedy non-maximum suppression. Take the highest remaining pixel, remove its
    /// (2w+1)×(2w+1) window from the candidates, repeat. Exactly k pixels: when every pixel is
    /// suppressed before k are chosen (k large against the map and window), the rest are the
    /// highest pixels not yet chosen. Ties go to the lower index, as in `topK`.
    public func diverseTopK(_ k: Int, halfWidth w: Int) -> [Int] { diverseTopK(k, halfWidth: w, order: descendingOrder) }

    /// `order`: this map's `descendingOrder`, when the caller has it already.
    func diverseTopK(_ k: Int, halfWidth w: Int, order: [Int]) -> [Int] {
        var suppressed = [Bool](repeating: false, count: values.count), chosen = [Bool](repeating: false, count: values.count)
        var picks: [Int] = []
        picks.reserveCapacity(k)
        for p in order where picks.count < k && !suppressed[p] {
            picks.append(p); chosen[p] = true
            mark(&suppressed, around: p, halfWidth: w)
        }
        for p in order where picks.count < k && !chosen[p] { picks.append(p); chosen[p] = true }
        return picks
    }

    /// The map divided by its maximum (values in [0, 1] for a non-negative map); all zeros stay zeros.
    public var maxNormalized: [Double] {
        let m = values.max() ?? 0
        return m > 0 ? values.map { $0 / m } : values.map { _ in 0 }
    }
}

/// |S_a ∩ S_b| / k for two chosen pixel sets of size k.
func sharedShare(_ sa: [Int], _ sb: [Int], k: Int) -> Double {
    let inA = Set(sa)
    return Double(sb.filter { inA.contains($0) }.count) / Double(k)
}

/// |D_w(S_a) ∩ S_b| / k: the share of b's chosen pixels lying near one of a's.
func nearShare(_ a: AttributionMap, _ sa: [Int], _ sb: [Int], halfWidth w: Int, k: Int) -> Double {
    let near = a.dilated(sa, halfWidth: w)
    return Double(sb.filter { near[$0] }.count) / Double(k)
}

/// LENS-recall@k = |D_w(T_k(a)) ∩ T_k(b)| / k: a top-k pixel of b counts when it lies near some top-k pixel of a.
public func lensRecall(_ a: AttributionMap, _ b: AttributionMap, k: Int, halfWidth w: Int) -> Double {
    nearShare(a, a.topK(k), b.topK(k), halfWidth: w, k: k)
}

/// LENS-prec@k = |T_k(a) ∩ D_w(T_k(b))| / k.
public func lensPrecision(_ a: AttributionMap, _ b: AttributionMap, k: Int, halfWidth w: Int) -> Double {
    nearShare(b, b.topK(k), a.topK(k), halfWidth: w, k: k)
}

/// The diverse top-k family for one window: topk-div intersection |Div_k(a) ∩ Div_k(b)| / k,
/// LENS-recall@k-div and LENS-prec@k-div (the LENS metrics with Div_k in place of T_k).
public func diverseTopKMetrics(_ a: AttributionMap, _ b: AttributionMap, k: Int, halfWidth w: Int)
    -> (intersection: Double, recall: Double, precision: Double) {
    diverseTopKMetrics(a, b, k: k, halfWidth: w, orders: (a.descendingOrder, b.descendingOrder))
}

func diverseTopKMetrics(_ a: AttributionMap, _ b: AttributionMap, k: Int, halfWidth w: Int, orders: ([Int], [Int]))
    -> (intersection: Double, recall: Double, precision: Double) {
    let da = a.diverseTopK(k, halfWidth: w, order: orders.0), db = b.diverseTopK(k, halfWidth: w, order: orders.1)
    return (sharedShare(da, db, k: k),
            nearShare(a, da, db, halfWidth: w, k: k), nearShare(b, db, da, halfWidth: w, k: k))
}

/// Mean squared difference.
public func meanSquaredError(_ a: [Double], _ b: [Double]) -> Double {
    zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / Double(a.count)
}

/// SSIM of two maps with values in [0, 1] (data range 1, C1 = 0.01², C2 = 0.03²) over 7×7 uniform
/// windows, with sample (co)variances, averaged over the windows that fit inside the map — the
/// defaults of scikit-image's `structural_similarity(a, b, data_range=1)`. Maps smaller than
/// 7×7 use one window of their size.
public func ssim(_ a: [Double], _ b: [Double], height: Int, width: Int, window: Int = 7) -> Double {
    let wy = min(window, height), wx = min(window, width), n = Double(wy * wx)
    let c1 = 0.01 * 0.01, c2 = 0.03 * 0.03, correction = n > 1 ? n / (n - 1) : 1
    var total = 0.0, count = 0
    for y0 in 0...(height - wy) {
        for x0 in 0...(width - wx) {
            var sa = 0.0, sb = 0.0, saa = 0.0, sbb = 0.0, sab = 0.0
            for y in y0..<(y0 + wy) {
                for x in x0..<(x0 + wx) {
                    let u = a[y * width + x], v = b[y * width + x]
                    sa += u; sb += v; saa += u * u; sbb += v * v; sab += u * v
                }
            }
            let ma = sa / n, mb = sb / n
            let va = (saa / n - ma * ma) * correction, vb = (sbb / n - mb * mb) * correction, cov = (sab / n - ma * mb) * correction
            total += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
            count += 1
        }
    }
    return total / Double(count)
}
