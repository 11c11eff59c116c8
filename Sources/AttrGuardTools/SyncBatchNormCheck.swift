import AttrGuardCore
import AttrGuardDistributed

/// Gradient checks of synchronized batch norm on the launched ranks against central finite
/// differences of the global-batch function, in Float64. The global batch x [B,C,S,S] is split in
/// row slices over the ranks; each rank normalises its slice with the global statistics
/// (`syncBatchNorm` through `StatisticsAllreduce`) and
///
///   L = Σ_r Σ u_r ⊙ softplus₄(y_r)                  (first order: ∂L/∂x, ∂L/∂γ, ∂L/∂β)
///   G = Σ_r ‖∂L/∂x_r‖²                                (second order: ∂G/∂x, ∂G/∂γ, ∂G/∂β)
///
/// ∂L/∂x_r comes from rank r's own backward (the cross-rank sums carry the other ranks' terms);
/// γ and β are replicated, so their gradients are the sums of the ranks' parts. Every rank walks
/// the same list of perturbations (an x element is moved on the rank that holds it, γ and β on all),
/// so the collectives match. Any rank count gives the same global function.
public enum SyncBatchNormCheck {
    /// The largest errors and the function values the check saw.
    public struct Result: Sendable, CustomStringConvertible {
        /// max |analytic − finite difference| / max |finite difference|, over x, γ and β.
        public var firstOrder: Double, secondOrder: Double
        /// L and G at the unperturbed point: the same for every rank count.
        public var loss: Double, gradientNorm: Double
        public var ranks: Int, perturbed: Int
        public var description: String {
            "synchronized batch norm on \(ranks) rank(s), \(perturbed) inputs perturbed: L \(loss), G \(gradientNorm); "
                + "largest relative error first order \(firstOrder), second order \(secondOrder)"
        }
    }

    /// Runs the check on every rank of `communicator` together (it is collective).
    public static func run(communicator: Communicator, batch: Int = 8, channels: Int = 3, size: Int = 3, step h: Double = 1e-5) throws -> Result {
        require(batch >= communicator.size, "sync-batchnorm-check: a batch of \(batch) for \(communicator.size) ranks leaves a rank without images")
        let reducer = StatisticsAllreduce(communicator)
        var rng = RandomStream(seed: 7)
        let plane = channels * size * size
        let xs = (0..<(batch * plane)).map { _ in rng.uniform(-2, 3) }, us = (0..<(batch * plane)).map { _ in rng.uniform(-1, 1) }
        let gamma = (0..<channels).map { _ in rng.uniform(0.5, 1.5) }, beta = (0..<channels).map { _ in rng.uniform(-1, 1) }
        let lo = communicator.rank * batch / communicator.size, hi = (communicator.rank + 1) * batch / communicator.size
        let shape = [hi - lo, channels, size, size], mine = (lo * plane)..<(hi * plane)
        let u = Variable(Tensor(shape: shape, values: Array(us[mine]), dtype: .float64))

        /// Rank-local pieces: L_r and, when asked, G_r with the variables they were taken from.
        func local(_ x: [Double], _ g: [Double], _ b: [Double], second: Bool) throws -> (value: Variable, inputs: [Variable]) {
            let xv = Variable(Tensor(shape: shape, values: x, dtype: .float64), requiresGrad: true)
            let gv = Variable(Tensor(shape: [channels], values: g, dtype: .float64), requiresGrad: true)
            let bv = Variable(Tensor(shape: [channels], values: b, dtype: .float64), requiresGrad: true)
            let y = syncBatchNorm(xv, weight: gv, bias: bv, eps: 1e-5, reducer: reducer).output
            let l = (y.softplus(beta: 4) * u).sum()
            guard second else { return (l, [xv, gv, bv]) }
            let gx = try grad(of: l, wrt: [xv], createGraph: true)[0]
            return ((gx * gx).sum(), [xv, gv, bv])
        }
        func global(_ x: [Double], _ g: [Double], _ b: [Double], second: Bool) throws -> Double {
            try communicator.allreduce([try local(x, g, b, second: second).value.value.doubles[0]], op: .sum)[0]
        }
        var errors: [Double] = [], values: [Double] = []
        for second in [false, true] {
            let x0 = Array(xs[mine])
            values.append(try global(x0, gamma, beta, second: second))
            let (value, inputs) = try local(x0, gamma, beta, second: second)
            let g = try grad(of: value, wrt: inputs).map(\.value.doubles)
            let analyticGamma = try communicator.allreduce(g[1], op: .sum), analyticBeta = try communicator.allreduce(g[2], op: .sum)
            var worst = 0.0, scale = 0.0
            func compare(_ analytic: Double?, _ plus: Double, _ minus: Double) {
                let fd = (plus - minus) / (2 * h)
                scale = max(scale, abs(fd))
                if let analytic { worst = max(worst, abs(analytic - fd)) }
            }
            for e in 0..<(batch * plane) {
                var plus = x0, minus = x0
                let owned = mine.contains(e)
                if owned { plus[e - mine.lowerBound] += h; minus[e - mine.lowerBound] -= h }
                compare(owned ? g[0][e - mine.lowerBound] : nil, try global(plus, gamma, beta, second: second),
                        try global(minus, gamma, beta, second: second))
            }
            for c in 0..<channels {
                var gp = gamma, gm = gamma, bp = beta, bm = beta
                gp[c] += h; gm[c] -= h; bp[c] += h; bm[c] -= h
                compare(analyticGamma[c], try global(x0, gp, beta, second: second), try global(x0, gm, beta, second: second))
                compare(analyticBeta[c], try global(x0, gamma, bp, second: second), try global(x0, gamma, bm, second: second))
            }
            let w = try communicator.allreduce([worst], op: .max)[0], s = try communicator.allreduce([scale], op: .max)[0]
            errors.append(w / max(s, 1e-30))
        }
        try reducer.check()
        return Result(firstOrder: errors[0], secondOrder: errors[1], loss: values[0], gradientNorm: values[1], ranks: communicator.size,
                      perturbed: batch * plane + 2 * channels)
    }
}
