import AttrGuardCore
import Testing

/// max |a − truth| / max |truth| over all elements (shapes must agree): how the convolution suites
/// hold a Float32 kernel to the Float64 reference.
func relativeError(_ a: Tensor, _ truth: Tensor) -> Double {
    let t = truth.doubles, v = a.doubles
    #expect(a.shape == truth.shape)
    let scale = t.map(Swift.abs).max() ?? 0
    return zip(v, t).map { Swift.abs($0 - $1) }.max()! / max(scale, 1e-30)
}
