extension Duration {
    /// The duration in seconds, as a Double (what timings and rates are computed from).
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
