import AttrGuardCore

/// The IGR paper's activation-state agreement: per image, the share of a layer's units whose state
/// is the same at x and at x′. A unit's state is whether its pre-activation is positive — a ReLU
/// passes it, and a Softplus unit is counted by the same rule (its smooth gate is above ½ there).
/// a, b: one layer's pre-activations [B, ...] at x and at x′. Returns B shares in [0, 1].
public func activationAgreement(_ a: Tensor, _ b: Tensor) -> [Double] {
    require(a.shape == b.shape && a.rank >= 1, "activationAgreement: shapes \(a.shape) and \(b.shape) differ")
    let rows = a.shape[0], per = a.count / max(rows, 1), u = a.doubles, v = b.doubles
    return (0..<rows).map { r in
        var same = 0
        for i in (r * per)..<((r + 1) * per) where (u[i] > 0) == (v[i] > 0) { same += 1 }
        return per == 0 ? 1 : Double(same) / Double(per)
    }
}
