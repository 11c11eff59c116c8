import AttrGuardAttribution
import AttrGuardCore
import AttrGuardNN
import Foundation
import Testing

/// The sampling metrics (Metrics/SamplingMetrics.swift) against NumPy straight from the formulas
/// (sampling_reference.py wrote sampling-reference.json), and where they have a closed form.
@Suite struct SamplingMetricsTests {
    struct Reference: Decodable {
        struct Draw: Decodable {
            let attribution: [Double], pixels: [Double], logits: [Double], same_prediction: Bool
        }
        struct Observation: Decodable { let attribution: [Double], pixels: [Double], logits: [Double], draws: [Draw] }
        struct Case: Decodable { let observation: Observation, expected: [String: Double?] }
        let eps_min: Double
        let cases: [Case]
    }

    /// Six random cases: zero attribution elements and a zero map, black pixels, every draw
    /// changing the prediction (no RIS/ROS), a draw equal to x (no Lipschitz quotient for it).
    @Test func matchesTheNumPyReference() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("sampling-reference.json")
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
        #expect(reference.cases.count == 6)
        for (i, c) in reference.cases.enumerated() {
            let o = c.observation
            let observation = SamplingObservation(attribution: o.attribution, pixels: o.pixels, logits: o.logits,
                                                  draws: o.draws.map { ($0.attribution, $0.pixels, $0.logits, $0.same_prediction) })
            let scores = observation.scores(SamplingMetric.allCases, epsMin: reference.eps_min)
            for metric in SamplingMetric.allCases {
                let ours = scores[metric]!, theirs = c.expected[metric.rawValue]!
                #expect((ours == nil) == (theirs == nil), "case \(i) \(metric): \(String(describing: ours)) vs \(String(describing: theirs))")
                if let ours, let theirs {
                    #expect(abs(ours - theirs) <= 1e-12 * max(1, abs(theirs)), "case \(i) \(metric): \(ours) vs \(theirs)")
                }
            }
        }
    }

    /// A linear model f(x) = Wx + b: its saliency for a fixed class is W_c wherever x is, so the
    /// sensitivities, the Lipschitz estimate, RIS and ROS are all 0; its gradient × input is
    /// W_c ⊙ x, whose sensitivity at x + δ is ‖W_c ⊙ δ‖ / ‖W_c ⊙ x‖ exactly.
    @Test func linearModelClosedForms() throws {
        let net = try Network(layers: [.flatten, .linear(in: 12, out: 3, bias: true)], inputShape: [3, 2, 2])
        var rng = RandomStream(seed: 4)
        let p = ParameterSet(network: net, dtype: .float64, rng: &rng)
        var model = Model(network: net, parameters: p.variables(), statistics: [:], mode: .evaluation)
        let x = Tensor.uniform([2, 3, 2, 2], low: 0.1, high: 0.9, dtype: .float64, rng: &rng)
        let labels = argmaxRows(model.logits(Variable(x)).value)
        let noise = PerturbationNoise(seed: 9, count: 2)
        var settings = SamplingSettings()
        settings.radius = 0.05
        settings.draws = 4
        func attributions(_ method: AttributionMethod, _ t: Tensor) throws -> [[Double]] {
            let v = try attribute(method, &model, Variable(t, requiresGrad: true), labels: labels, settings: AttributionSettings(),
                                  noise: noise, createGraph: false).value.doubles
            return [Array(v[0..<12]), Array(v[12..<24])]
        }
        let range = PixelRange(low: 0, high: 1)
        let xs = (0..<settings.draws).map { binary(.add, x, noise.sampling(x, settings, range: range, draw: $0)) }
        func rowsOf(_ t: Tensor) -> [[Double]] { let v = t.doubles; let per = v.count / 2; return [Array(v[0..<per]), Array(v[per...])] }
        for method in [AttributionMethod.saliency, .gradientTimesInput] {
            let clean = try attributions(method, x), moved = try xs.map { try attributions(method, $0) }
            for j in 0..<2 {
                let observation = SamplingObservation(
                    attribution: clean[j], pixels: rowsOf(x)[j], logits: rowsOf(model.logits(Variable(x)).value)[j],
                    draws: (0..<settings.draws).map { d in
                        (moved[d][j], rowsOf(xs[d])[j], rowsOf(model.logits(Variable(xs[d])).value)[j], true)
                    })
                let s = observation.scores(SamplingMetric.allCases, epsMin: settings.epsMin)
                if method == .saliency {
                    for metric in SamplingMetric.allCases { #expect(s[metric]!! == 0, "saliency \(metric) of image \(j)") }
                } else {
                    let w = clean[j].indices.map { clean[j][$0] / rowsOf(x)[j][$0] }   // W_c, from e = W_c ⊙ x
                    let expected = (0..<settings.draws).map { d -> Double in
                        let delta = zip(rowsOf(xs[d])[j], rowsOf(x)[j]).map { $0 - $1 }
                        let num = zip(w, delta).map { $0 * $1 }, den = zip(w, rowsOf(x)[j]).map { $0 * $1 }
                        return sqrt(num.map { $0 * $0 }.reduce(0, +)) / sqrt(den.map { $0 * $0 }.reduce(0, +))
                    }
                    #expect(abs(s[.maxSensitivity]!! - expected.max()!) < 1e-12, "gradient×input max sensitivity")
                    #expect(abs(s[.avgSensitivity]!! - expected.reduce(0, +) / Double(settings.draws)) < 1e-12)
                    #expect(s[.maxSensitivity]!! > 0)
                }
            }
        }
    }

    /// The draws: U[−r, r] per element (bounded, not constant), the same for a sample key whatever
    /// batch it sits in (so 1 rank ≡ N ranks), different per draw; Gaussian with spread ≈ r.
    @Test func drawsArePerSampleAndBounded() {
        var settings = SamplingSettings()
        settings.radius = 0.02
        let x = Tensor(zeros: [3, 3, 8, 8], dtype: .float64)
        let range = PixelRange(low: 0, high: 1)
        let all = PerturbationNoise(seed: 5, keys: [7, 8, 9]).sampling(x, settings, range: range, draw: 1).doubles
        let alone = PerturbationNoise(seed: 5, keys: [8]).sampling(Tensor(zeros: [1, 3, 8, 8], dtype: .float64), settings,
                                                                   range: range, draw: 1).doubles
        #expect(Array(all[192..<384]) == alone)
        #expect(all.allSatisfy { abs($0) <= 0.02 } && Set(all).count > 500)
        let other = PerturbationNoise(seed: 5, keys: [7, 8, 9]).sampling(x, settings, range: range, draw: 2).doubles
        #expect(other != all)
        settings.noise = .gaussian
        let g = PerturbationNoise(seed: 5, keys: [7, 8, 9]).sampling(x, settings, range: range, draw: 1).doubles
        let sd = sqrt(g.map { $0 * $0 }.reduce(0, +) / Double(g.count))
        #expect(abs(sd - 0.02) < 0.003 && g.contains { abs($0) > 0.02 })
    }

    /// A network agrees with itself at x on every layer; a shift of x changes some units' states.
    @Test func activationAgreementIsOneWithItselfAndDropsUnderAShift() throws {
        let net = try Network(layers: [.conv2d(in: 3, out: 4, kernel: 3, stride: 1, padding: 1, bias: true), .relu,
                                       .conv2d(in: 4, out: 4, kernel: 3, stride: 1, padding: 1, bias: true), .softplus(beta: 5),
                                       .flatten, .linear(in: 64, out: 2, bias: true)], inputShape: [3, 4, 4])
        var rng = RandomStream(seed: 6)
        let p = ParameterSet(network: net, dtype: .float64, rng: &rng).variables()
        let x = Tensor.uniform([2, 3, 4, 4], low: 0, high: 1, dtype: .float64, rng: &rng)
        let clean = net.preActivations(x, p, statistics: [:])
        #expect(clean.map(\.layer) == ["1", "3"] && clean[0].values.shape == [2, 4, 4, 4])
        for layer in clean { #expect(activationAgreement(layer.values, layer.values) == [1, 1]) }
        let shifted = net.preActivations(Tensor.uniform([2, 3, 4, 4], low: -1, high: 1, dtype: .float64, rng: &rng), p, statistics: [:])
        let shares = zip(clean, shifted).flatMap { activationAgreement($0.values, $1.values) }
        #expect(shares.allSatisfy { $0 >= 0 && $0 <= 1 } && shares.contains { $0 < 1 })
        // By hand: states (+, −, +, 0) against (+, +, −, 0): 2 of 4 agree (0 is inactive).
        let a = Tensor(shape: [1, 4], values: [1, -1, 2, 0], dtype: .float64), b = Tensor(shape: [1, 4], values: [3, 1, -2, 0], dtype: .float64)
        #expect(activationAgreement(a, b) == [0.5])
    }
}
