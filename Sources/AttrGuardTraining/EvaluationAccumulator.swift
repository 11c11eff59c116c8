import AttrGuardDistributed
import AttrGuardReport

/// What `attrguard eval` adds up on each rank before one all-reduce: Σ value, Σ value² and the
/// count of every quantity, under typed keys. The ranks reduce over a key list built from the
/// settings and the network (`Evaluation.keys`), never from what a rank happened to see, so a rank
/// with no attributed images sends zeros in the same places.
struct EvaluationAccumulator {
    enum Key: Hashable {
        case accuracy, adversarialAccuracy
        /// Images the attribution metrics are over (a count: its sum is what is reported).
        case attributed
        /// One image's metric between its clean and attacked maps at radius index `radius`.
        case attribution(radius: Int, method: String, attack: String, metric: String)
        /// Seconds spent on one method × attack at a radius (a sum).
        case seconds(radius: Int, method: String, attack: String)
        /// One image's sampling metric, and the draws and their prediction changes (counts).
        case sampling(method: String, metric: String)
        case samplingDraws, samplingPredictionChanges
        /// One image's (or attacked draw's) activation agreement in one layer.
        case agreement(method: String, attack: String, layer: String)
    }

    /// Σ v, Σ v², n per key.
    private var totals: [Key: (sum: Double, squares: Double, count: Double)] = [:]

    /// Adds a finite value (a NaN or infinity is left out of the sums and the count).
    mutating func add(_ key: Key, _ v: Double) {
        guard v.isFinite else { return }
        let t = totals[key] ?? (0, 0, 0)
        totals[key] = (t.sum + v, t.squares + v * v, t.count + 1)
    }

    /// Every rank's totals over `keys` (the same list on every rank), summed in one all-reduce.
    func reduced(over keys: [Key], communicator: Communicator) throws -> Reduced {
        let flat = try communicator.allreduce(keys.flatMap { k in totals[k].map { [$0.sum, $0.squares, $0.count] } ?? [0, 0, 0] },
                                              op: .sum, label: "evaluation sums")
        var out: [Key: (sum: Double, squares: Double, count: Double)] = [:]
        for (i, k) in keys.enumerated() { out[k] = (flat[3 * i], flat[3 * i + 1], flat[3 * i + 2]) }
        return Reduced(totals: out)
    }

    /// The all-reduced totals.
    struct Reduced {
        let totals: [Key: (sum: Double, squares: Double, count: Double)]

        /// Mean (nil without a value), sample standard deviation, n.
        func summary(_ k: Key) -> MetricSummary {
            let (s, s2, n) = totals[k] ?? (0, 0, 0)
            let mean = n > 0 ? s / n : nil
            let std = n > 1 ? max(0, (s2 - n * mean! * mean!) / (n - 1)).squareRoot() : 0
            return MetricSummary(mean: mean, std: std, n: Int(n))
        }

        func sum(_ k: Key) -> Double { totals[k]?.sum ?? 0 }
        func mean(_ k: Key) -> Double? { summary(k).mean }
    }
}
