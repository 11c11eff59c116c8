import ArgumentParser
import Foundation

/// Rejects a numeric option outside `range` with a message naming the option, before any work
/// (a zero batch or a negative count would otherwise trap or divide by zero deep inside).
func requireOption<T: Comparable>(_ name: String, _ value: T, in range: ClosedRange<T>) throws {
    guard range.contains(value) else { throw ValidationError("\(name): \(value) must be in \(range.lowerBound)…\(range.upperBound)") }
}

/// A comma-separated option value, each part through `parse`; the first part it rejects is an error
/// naming the flag (`message` says what is wrong with the part).
func commaList<T>(_ flag: String, _ text: String, _ parse: (String) -> T?, message: (String) -> String) throws -> [T] {
    try text.split(separator: ",", omittingEmptySubsequences: false).map { part in
        guard let value = parse(part.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("\(flag): \(message(String(part)))") }
        return value
    }
}

/// `--windows`: LENS half-widths w ≥ 1 (w = 1 is the 3×3 window).
func halfWidthList(_ text: String) throws -> [Int] {
    try commaList("--windows", text, { Int($0).flatMap { (1...1_000).contains($0) ? $0 : nil } }) {
        "'\($0)' is not a half-width w in 1…1000 (w = 1 is the 3×3 window)"
    }
}
