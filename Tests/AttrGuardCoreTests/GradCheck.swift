import AttrGuardCore

/// Central finite differences against the tape, in Float64, for first and second order.
///
/// First order:  L(inputs) = Σ r ⊙ y + ½ Σ q ⊙ y²  with y = f(inputs) and fixed random r, q;
///               ∂L/∂input from `grad` vs (L(+h) − L(−h)) / 2h.
/// Second order: H(inputs) = Σ_i Σ s_i ⊙ ∂L/∂input_i  (a function of gradients, built with
///               createGraph), and ∂H/∂input from `grad` vs central differences of H.
struct GradCheckResult {
    var firstOrder: Double
    var secondOrder: Double
}

enum GradCheck {
    static let step = 1e-6

    /// Max over inputs of max|analytic − numeric| / max(max|numeric|, 1).
    static func relativeError(_ analytic: [Tensor], _ numeric: [[Double]]) -> Double {
        var worst = 0.0
        for (a, n) in zip(analytic, numeric) {
            let av = a.doubles
            let scale = Swift.max(n.map(Swift.abs).max() ?? 0, 1)
            for (x, y) in zip(av, n) { worst = Swift.max(worst, Swift.abs(x - y) / scale) }
        }
        return worst
    }

    static func numericGradient(_ inputs: [Tensor], _ f: ([Tensor]) -> Double) -> [[Double]] {
        var values = inputs.map { $0.doubles }
        return inputs.indices.map { i in
            (0..<values[i].count).map { j in
                let orig = values[i][j]
                values[i][j] = orig + step
                let plus = f(zip(inputs, values).map { Tensor(shape: $0.shape, values: $1, dtype: .float64) })
                values[i][j] = orig - step
                let minus = f(zip(inputs, values).map { Tensor(shape: $0.shape, values: $1, dtype: .float64) })
                values[i][j] = orig
                return (plus - minus) / (2 * step)
            }
        }
    }

    /// Runs both checks for `f` at `inputs` (Float64 tensors), with a seeded projection.
    static func check(_ inputs: [Tensor], seed: UInt64 = 7, secondOrder: Bool = true,
                      _ f: @escaping ([Variable]) -> Variable) throws -> GradCheckResult {
        var rng = RandomStream(seed: seed)
        let probe = f(inputs.map { Variable($0) })
        let r = Variable(Tensor.uniform(probe.shape, low: -1, high: 1, dtype: .float64, rng: &rng))
        let q = Variable(Tensor.uniform(probe.shape, low: -1, high: 1, dtype: .float64, rng: &rng))
        let s = inputs.map { Variable(Tensor.uniform($0.shape, low: -1, high: 1, dtype: .float64, rng: &rng)) }

        func loss(_ vars: [Variable]) -> Variable {
            let y = f(vars)
            return (r * y).sum() + ((q * y) * y).sum() * 0.5
        }
        func gradProjection(_ vars: [Variable], createGraph: Bool) throws -> Variable {
            let gs = try grad(of: loss(vars), wrt: vars, createGraph: createGraph)
            return zip(gs, s).map { ($0 * $1).sum() }.reduce(Variable(Tensor.scalar(0, dtype: .float64)), +)
        }

        let leaves = inputs.map { Variable($0, requiresGrad: true) }
        let analytic = try grad(of: loss(leaves), wrt: leaves).map(\.value)
        let numeric = numericGradient(inputs) { loss($0.map { Variable($0) }).value.item }
        let first = relativeError(analytic, numeric)

        var second = 0.0
        if secondOrder {
            let leaves2 = inputs.map { Variable($0, requiresGrad: true) }
            let h = try gradProjection(leaves2, createGraph: true)
            let analytic2 = try grad(of: h, wrt: leaves2).map(\.value)
            let numeric2 = numericGradient(inputs) { t in
                (try? gradProjection(t.map { Variable($0, requiresGrad: true) }, createGraph: false).value.item) ?? .nan
            }
            second = relativeError(analytic2, numeric2)
        }
        return GradCheckResult(firstOrder: first, secondOrder: second)
    }

    static func random(_ shape: [Int], _ rng: inout RandomStream, low: Double = -1, high: Double = 1) -> Tensor {
        Tensor.uniform(shape, low: low, high: high, dtype: .float64, rng: &rng)
    }

    /// Values spaced at least `gap` apart (for max-pool and ReLU checks away from ties and kinks).
    static func distinct(_ shape: [Int], _ rng: inout RandomStream, gap: Double = 0.05) -> Tensor {
        let n = Shape.count(shape)
        var v = (0..<n).map { Double($0) * gap - Double(n) * gap / 2 }
        v.shuffle(using: &rng)
        return Tensor(shape: shape, values: v, dtype: .float64)
    }
}
