import ArgumentParser

/// Rejects a numeric option outside `range` with a message naming the option, before any work
/// (a zero batch or a negative count would otherwise trap or divide by zero deep inside).
func requireOption<T: Comparable>(_ name: String, _ value: T, in range: ClosedRange<T>) throws {
    guard range.contains(value) else { throw ValidationError("\(name): \(value) must be in \(range.lowerBound)…\(range.upperBound)") }
}
