/// Shape arithmetic shared by the kernels: element counts, row-major strides, broadcasting.
public enum Shape {
    @inline(__always) public static func count(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    /// Row-major strides in elements.
    public static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) { s[i] = acc; acc *= shape[i] }
        return s
    }

    /// NumPy broadcasting of two shapes, or nil when they are incompatible.
    public static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let n = max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let da = i < n - a.count ? 1 : a[i - (n - a.count)]
            let db = i < n - b.count ? 1 : b[i - (n - b.count)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
        }
        return out
    }

    /// Strides of `shape` read inside the larger `target` shape: 0 on broadcast (size-1 or missing) axes.
    static func broadcastStrides(_ shape: [Int], in target: [Int]) -> [Int] {
        let own = strides(shape)
        let lead = target.count - shape.count
        return (0..<target.count).map { i in
            i < lead ? 0 : (shape[i - lead] == 1 && target[i] != 1 ? 0 : own[i - lead])
        }
    }

    static func describe(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
}
