import Foundation
import Yams

/// A bad configuration or experiment file (a YAML config, a golden case): names the file and the
/// key path (`optim.lr`; "-" for the file as a whole).
public struct ConfigError: Error, CustomStringConvertible {
    public let file: String
    public let key: String
    public let message: String
    public init(file: String, key: String, message: String) { self.file = file; self.key = key; self.message = message }
    public var description: String { "\(file): \(key): \(message)" }
}

/// Reads typed values out of a YAML tree, remembering which keys were read so that anything
/// left over is reported as unknown (a typo must not silently fall back to a default).
final class ConfigReader {
    let file: String
    private let root: [String: Any]
    private var used = Set<String>()

    init(file: String, root: [String: Any]) { self.file = file; self.root = root }

    /// Nodes a config may expand to, aliases counted at every use, and how deep it may nest.
    static let maxNodes = 100_000, maxDepth = 64

    /// Checks the composed tree before anything is built from it: aliases are shared when Yams
    /// composes but expanded by every walk after, so an alias bomb (each level doubling the last)
    /// is refused here by counting nodes as expanded, stopping at `maxNodes`; and Yams' untyped
    /// loader traps on a mapping key that is not a plain scalar (`? [a]: b`, found by fuzzing).
    private static func checkTree(_ node: Node, file: String) throws {
        var count = 0
        func walk(_ node: Node, depth: Int) throws {
            count += 1
            guard count <= maxNodes else {
                throw ConfigError(file: file, key: "-", message: "expands to more than \(maxNodes) values (aliases, *name, nested in each other?); "
                                  + "a config this large is refused")
            }
            guard depth <= maxDepth else { throw ConfigError(file: file, key: "-", message: "nests deeper than \(maxDepth) levels") }
            if let mapping = node.mapping {
                for (key, value) in mapping {
                    guard key.scalar != nil else {
                        throw ConfigError(file: file, key: "-", message: "a mapping key must be a plain word, got a \(key.mapping != nil ? "mapping" : "list") (line \(key.mark?.line ?? 0))")
                    }
                    try walk(value, depth: depth + 1)
                }
            } else if let sequence = node.sequence {
                for item in sequence { try walk(item, depth: depth + 1) }
            }
        }
        try walk(node, depth: 0)
    }

    /// Parses YAML text, applies `a.b=value` overrides (values parsed as YAML scalars).
    static func parse(yaml: String, file: String, overrides: [String]) throws -> ConfigReader {
        let loaded: Any?
        do {
            if let node = try Yams.compose(yaml: yaml) { try checkTree(node, file: file) }
            loaded = try Yams.load(yaml: yaml)
        } catch let e as ConfigError { throw e } catch {
            throw ConfigError(file: file, key: "-", message: "not valid YAML (\(error))")
        }
        guard var tree = (loaded ?? [String: Any]()) as? [String: Any] else {
            throw ConfigError(file: file, key: "-", message: "top level must be a mapping")
        }
        for o in overrides {
            guard let eq = o.firstIndex(of: "="), eq != o.startIndex else {
                throw ConfigError(file: "--set", key: o, message: "expected KEY=VALUE, e.g. optim.lr=0.05")
            }
            let path = o[..<eq].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            if let i = path.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
                throw ConfigError(file: "--set", key: o, message: "key part \(i + 1) of '\(o[..<eq])' is empty; write KEY=VALUE with dotted words, e.g. optim.lr=0.05")
            }
            let text = String(o[o.index(after: eq)...])
            let value: Any = (try? Yams.load(yaml: text)).flatMap { $0 } ?? text
            tree = set(tree, path: path[...], value: value)
        }
        return ConfigReader(file: file, root: tree)
    }

    private static func set(_ tree: [String: Any], path: ArraySlice<String>, value: Any) -> [String: Any] {
        var t = tree
        guard let head = path.first else { return t }
        if path.count == 1 { t[head] = value } else {
            t[head] = set((t[head] as? [String: Any]) ?? [:], path: path.dropFirst(), value: value)
        }
        return t
    }

    private func lookup(_ key: String) -> Any? {
        var node: Any? = root
        for part in key.split(separator: ".") { node = (node as? [String: Any])?[String(part)] }
        return node
    }

    func has(_ key: String) -> Bool { lookup(key) != nil }

    func error(_ key: String, _ message: String) -> ConfigError { ConfigError(file: file, key: key, message: message) }

    func raw(_ key: String) -> Any? {
        used.insert(key)
        return lookup(key)
    }

    func string(_ key: String, _ fallback: String? = nil, oneOf choices: [String]? = nil) throws -> String {
        guard let v = raw(key) else {
            if let fallback { return fallback }
            throw error(key, "missing")
        }
        guard let s = v as? String else { throw error(key, "expected a string, got \(v)") }
        if let choices, !choices.contains(s) { throw error(key, "'\(s)' is not one of \(choices.joined(separator: ", "))") }
        return s
    }

    func double(_ key: String, _ fallback: Double? = nil, min: Double? = nil, max: Double? = nil) throws -> Double {
        guard let v = raw(key) else {
            if let fallback { return fallback }
            throw error(key, "missing")
        }
        // Yams leaves some spellings of numbers as strings ("-0"): those parse as numbers too.
        let text = (v as? String).flatMap { $0.wholeMatch(of: /[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/) != nil ? Double($0) : nil }
        guard let d = (v as? Double) ?? (v as? Int).map(Double.init) ?? text, d.isFinite else { throw error(key, "expected a number, got \(v)") }
        if let min, d < min { throw error(key, "must be at least \(min), got \(d)") }
        if let max, d > max { throw error(key, "must be at most \(max), got \(d)") }
        return d
    }

    func int(_ key: String, _ fallback: Int? = nil, min: Int? = nil, max: Int? = nil) throws -> Int {
        guard let v = raw(key) else {
            if let fallback { return fallback }
            throw error(key, "missing")
        }
        guard let i = v as? Int else { throw error(key, "expected an integer, got \(v)") }
        if let min, i < min { throw error(key, "must be at least \(min), got \(i)") }
        if let max, i > max { throw error(key, "must be at most \(max), got \(i)") }
        return i
    }

    func bool(_ key: String, _ fallback: Bool) throws -> Bool {
        guard let v = raw(key) else { return fallback }
        guard let b = v as? Bool else { throw error(key, "expected true or false, got \(v)") }
        return b
    }

    func intList(_ key: String, _ fallback: [Int]) throws -> [Int] {
        guard let v = raw(key) else { return fallback }
        guard let l = v as? [Int] else { throw error(key, "expected a list of integers, got \(v)") }
        return l
    }

    /// Every key in the file that no reader asked for.
    func unknownKeys() -> [String] {
        var out: [String] = []
        func walk(_ node: [String: Any], _ prefix: String) {
            for (k, v) in node {
                let key = prefix.isEmpty ? k : "\(prefix).\(k)"
                if used.contains(key) { continue }
                if let sub = v as? [String: Any], used.contains(where: { $0.hasPrefix(key + ".") }) { walk(sub, key) } else { out.append(key) }
            }
        }
        walk(root, "")
        return out.sorted()
    }

    /// The effective configuration (after overrides) as YAML, for checkpoints and logs.
    func yaml() -> String { (try? Yams.dump(object: root, sortKeys: true)) ?? "" }
}
