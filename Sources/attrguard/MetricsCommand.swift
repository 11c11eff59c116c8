import AttrGuardAttribution
import AttrGuardData
import ArgumentParser
import Foundation

/// `attrguard metrics A.npy B.npy --k K`: every robustness metric between two saved maps.
struct MetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Robustness metrics between two attribution maps saved as .npy (H×W or flat, float32/float64).")

    @Argument(help: "The original map (.npy).") var original: String
    @Argument(help: "The attacked map (.npy).") var attacked: String
    @Option(help: "k of the top-k metrics.") var k: Int
    @Option(help: "Window (odd; 1 = plain top-k) of lens_topk_intersection and the max-pooled rank correlations.") var window = 3
    @Option(help: "Half-widths w of the LENS family, comma-separated (1 = 3×3).") var windows = "1,2,3"
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        try reportingFailure("metrics") {
            let a = try load(original), b = try load(attacked)
            guard a.height == b.height && a.width == b.width else {
                throw ValidationError("\(original) is \(a.height)×\(a.width) but \(attacked) is \(b.height)×\(b.width)")
            }
            // k = every pixel would make every top-k metric 1 whatever the maps.
            guard k >= 1 && k < a.values.count else { throw ValidationError("--k \(k) must be in 1…\(a.values.count - 1) (fewer than the map's pixels)") }
            guard window >= 1 && window % 2 == 1 && window <= min(a.height, a.width) || window == 1 else {
                throw ValidationError("--window \(window) must be odd and fit the \(a.height)×\(a.width) map")
            }
            let halfWidths = try halfWidthList(windows)
            let m = AttributionComparison(a, b, k: k, window: window, halfWidths: halfWidths)
            if json {
                let body = m.named.map { "\"\($0.0)\": \($0.1.isNaN ? "null" : String($0.1))" }.joined(separator: ", ")
                print("{\(body), \"k\": \(k), \"window\": \(window)}")
            } else {
                for (name, value) in m.named { print("\(name): \(value)") }
            }
        }
    }

    func load(_ path: String) throws -> AttributionMap {
        let (values, shape) = try NPY.read(path)
        let nonFinite = values.lazy.filter { !$0.isFinite }.count
        guard nonFinite == 0 else { throw DataError(file: path, "\(nonFinite) of its \(values.count) values are not finite; such a map cannot be scored") }
        switch shape.count {
        case 1: return AttributionMap(values: values, height: 1, width: shape[0])
        case 2: return AttributionMap(values: values, height: shape[0], width: shape[1])
        default: throw DataError(file: path, "expected an H×W or flat map, got shape \(shape)")
        }
    }
}
