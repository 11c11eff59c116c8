import AttrGuardCore

/// Rank correlations between two attribution maps, flattened. Both handle ties as SciPy does.

/// Kendall's τ-b in O(n log n) (Knight's algorithm): sort by (a, b), count ties in a and joint
/// ties, merge-sort by b counting exchanges (discordant pairs), count ties in b.
/// τ_b = (n0 − n1 − n2 + n3 − 2·swaps) / √((n0 − n1)(n0 − n2)); NaN when either side is constant.
public func kendallTau(_ a: [Double], _ b: [Double]) -> Double {
    require(a.count == b.count, "kendallTau: \(a.count) vs \(b.count) values")
    let n = a.count
    guard n > 1 else { return .nan }
    var order = Array(0..<n)
    order.sort { a[$0] != a[$1] ? a[$0] < a[$1] : b[$0] < b[$1] }
    func pairs(_ t: Int) -> Int { t * (t - 1) / 2 }
    var tiesA = 0, tiesJoint = 0
    var i = 0
    while i < n {
        var j = i + 1
        while j < n && a[order[j]] == a[order[i]] { j += 1 }
        tiesA += pairs(j - i)
        var k = i
        while k < j {   // within equal a, runs of equal b are joint ties
            var l = k + 1
            while l < j && b[order[l]] == b[order[k]] { l += 1 }
            tiesJoint += pairs(l - k)
            k = l
        }
        i = j
    }
    // Merge sort the b values (in a-order), counting inversions.
    var values = order.map { b[$0] }
    var buffer = values
    var swaps = 0
    var width = 1
    while width < n {
        var start = 0
        while start < n {
            let mid = min(start + width, n), end = min(start + 2 * width, n)
            var p = start, q = mid, o = start
            while p < mid && q < end {
                if values[q] < values[p] { buffer[o] = values[q]; q += 1; swaps += mid - p } else { buffer[o] = values[p]; p += 1 }
                o += 1
            }
            while p < mid { buffer[o] = values[p]; p += 1; o += 1 }
            while q < end { buffer[o] = values[q]; q += 1; o += 1 }
            start += 2 * width
        }
        swap(&values, &buffer)
        width *= 2
    }
    var tiesB = 0
    i = 0
    while i < n {
        var j = i + 1
        while j < n && values[j] == values[i] { j += 1 }
        tiesB += pairs(j - i)
        i = j
    }
    let n0 = Double(pairs(n))
    let numerator = n0 - Double(tiesA) - Double(tiesB) + Double(tiesJoint) - 2 * Double(swaps)
    let denominator = ((n0 - Double(tiesA)) * (n0 - Double(tiesB))).squareRoot()
    return denominator == 0 ? .nan : numerator / denominator
}

/// Ranks 1…n, tied values sharing their average rank.
public func averageRanks(_ x: [Double]) -> [Double] {
    let order = x.indices.sorted { x[$0] < x[$1] }
    var ranks = [Double](repeating: 0, count: x.count)
    var i = 0
    while i < order.count {
        var j = i + 1
        while j < order.count && x[order[j]] == x[order[i]] { j += 1 }
        let rank = Double(i + j + 1) / 2   // mean of ranks i+1 … j
        for k in i..<j { ranks[order[k]] = rank }
        i = j
    }
    return ranks
}

/// Pearson correlation; NaN when either side is constant.
public func pearson(_ a: [Double], _ b: [Double]) -> Double {
    let n = Double(a.count)
    let ma = a.reduce(0, +) / n, mb = b.reduce(0, +) / n
    var sab = 0.0, saa = 0.0, sbb = 0.0
    for (x, y) in zip(a, b) { sab += (x - ma) * (y - mb); saa += (x - ma) * (x - ma); sbb += (y - mb) * (y - mb) }
    return saa == 0 || sbb == 0 ? .nan : sab / (saa * sbb).squareRoot()
}

/// Spearman's ρ: Pearson correlation of average ranks.
public func spearmanRho(_ a: [Double], _ b: [Double]) -> Double {
    require(a.count == b.count, "spearmanRho: \(a.count) vs \(b.count) values")
    return pearson(averageRanks(a), averageRanks(b))
}

/// Cosine similarity of the flattened maps (0 when either is all zeros).
public func cosineSimilarity(_ a: [Double], _ b: [Double]) -> Double {
    var ab = 0.0, aa = 0.0, bb = 0.0
    for (x, y) in zip(a, b) { ab += x * y; aa += x * x; bb += y * y }
    return aa == 0 || bb == 0 ? 0 : ab / (aa * bb).squareRoot()
}
