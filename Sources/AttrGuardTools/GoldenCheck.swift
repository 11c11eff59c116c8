import AttrGuardAttribution
import AttrGuardCore
import AttrGuardNN

/// One compared field of a golden case.
public struct GoldenFieldResult: Sendable {
    public let field: String
    /// max|ours − expected| / max(max|expected|, 1e-10); infinity when not computed or shapes differ.
    public let error: Double
    public let passed: Bool
    public let note: String
}

/// Recomputes golden cases through the engine and compares field by field.
public enum GoldenCheck {
    /// Largest relative error accepted: 1e-8 in Float64, 1e-3 in Float32.
    public static func tolerance(for dtype: DType) -> Double { dtype == .float64 ? 1e-8 : 1e-3 }

    /// max |ours − expected| / max(max |expected|, 1e-10); NaN anywhere is an infinite error.
    public static func relativeError(_ ours: Tensor, _ expected: Tensor) -> Double {
        let a = ours.doubles, b = expected.doubles
        let scale = Swift.max(b.map(Swift.abs).max() ?? 0, 1e-10)
        var worst = 0.0
        for (x, y) in zip(a, b) {
            let d = Swift.abs(x - y)
            if d.isNaN { return .infinity }
            worst = Swift.max(worst, d)
        }
        return worst / scale
    }

    /// Recomputes every expected field of `c` in `dtype` and compares.
    public static func run(_ c: GoldenCase, dtype: DType) throws -> [GoldenFieldResult] {
        let tol = tolerance(for: dtype)
        let params = try ParameterSet(network: c.network, values: c.parameters, dtype: dtype, source: "\(c.file): params")
        let bound = params.variables()
        // Training-mode batch norm with each forward call's own statistics; running stats are not part of a case.
        var model = Model(network: c.network, parameters: bound, statistics: c.network.initialStatistics(dtype: dtype),
                          mode: .trainingFrozenStatistics)
        let terms = try c.objective.terms(&model, x: c.x.converted(to: dtype), perturbed: c.xAdv.converted(to: dtype),
                                          probe: c.probe?.converted(to: dtype), labels: c.labels)
        let computed: [String: Tensor] = terms.named(for: c.objective).mapValues(\.value)
        var groups: [String: [String: Tensor]] = [:]
        let totalGrads = try grad(of: terms.total, wrt: bound.variables)
        let regGrads = try grad(of: terms.regularizer, wrt: bound.variables)
        groups["param_grads"] = Dictionary(uniqueKeysWithValues: zip(bound.names, totalGrads.map(\.value)))
        groups["regularizer_param_grads"] = Dictionary(uniqueKeysWithValues: zip(bound.names, regGrads.map(\.value)))

        var results: [GoldenFieldResult] = []
        func compare(_ field: String, _ ours: Tensor?, _ expected: Tensor) {
            guard let ours else {
                results.append(GoldenFieldResult(field: field, error: .infinity, passed: false, note: "not computed for method \(c.objective.name)"))
                return
            }
            guard ours.count == expected.count, ours.shape == expected.shape || ours.count == 1 else {
                results.append(GoldenFieldResult(field: field, error: .infinity, passed: false,
                                                 note: "shape \(ours.shape), expected \(expected.shape)"))
                return
            }
            let e = relativeError(ours, expected)
            results.append(GoldenFieldResult(field: field, error: e, passed: e <= tol, note: ""))
        }
        for key in c.expected.keys.sorted() { compare(key, computed[key], c.expected[key]!) }
        for key in c.expectedGroups.keys.sorted() {
            let ours = groups[key]
            for name in c.expectedGroups[key]!.keys.sorted() { compare("\(key).\(name)", ours?[name], c.expectedGroups[key]![name]!) }
        }
        return results
    }
}
