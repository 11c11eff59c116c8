/// Per-op accounting for `attrguard bench step --profile` (torch.profiler's key_averages): time,
/// calls, floating-point work and bytes allocated per primitive, split by the pass it ran in
/// (forward, a graph-building backward, the final backward) and by the layer kind that recorded it.
///
/// Bound for a scope with `OpProfiler.$current.withValue(profiler) { … }` (a task-local, so there
/// is no process-wide switch); with none bound each op pays one task-local read.
public final class OpProfiler: @unchecked Sendable {
    @TaskLocal public static var current: OpProfiler?
    @TaskLocal static var phase: Phase = .forward
    /// The network layer kind whose forward is running ("objective" outside the network).
    @TaskLocal public static var layer: String = "objective"

    /// Which pass an op ran in: the forward, the backward that records a graph (an input gradient), or the final backward.
    public enum Phase: String, Sendable, CaseIterable {
        case forward
        /// grad(createGraph: true): an input gradient the objective differentiates again.
        case graphBackward = "graph backward"
        /// grad(createGraph: false): the parameter gradients.
        case backward = "final backward"
    }

    /// A row of the profile: op (or layer kind) and phase.
    public struct Key: Hashable, Sendable {
        public let op: String
        public let phase: Phase
        public let layer: String
    }

    /// Time, calls, multiply-adds and bytes allocated of one row.
    public struct Entry: Sendable {
        public var seconds = 0.0
        public var calls = 0
        public var flops = 0.0
        public var bytes = 0
    }

    /// Runs `body` with `phase` charged for the ops it runs (when profiling).
    static func during<R>(_ phase: Phase, _ body: () throws -> R) rethrows -> R {
        current == nil ? try body() : try $phase.withValue(phase, operation: body)
    }

    /// Runs `body` charging its ops to the layer kind `layer` (when profiling).
    public static func inLayer<R>(_ layer: String, _ body: () throws -> R) rethrows -> R {
        current == nil ? try body() : try $layer.withValue(layer, operation: body)
    }

    public private(set) var entries: [Key: Entry] = [:]
    /// Bytes of tensor storage allocated since the profiler was bound.
    public private(set) var allocatedBytes = 0
    /// Bytes of those allocations still alive, and their highest value: the tensors' own peak,
    /// beside which peak RSS shows the allocator's and the libraries' share.
    public private(set) var liveBytes = 0
    public private(set) var peakLiveBytes = 0
    private let clock = ContinuousClock()

    public init() {}

    func allocated(_ bytes: Int) {
        allocatedBytes += bytes
        liveBytes += bytes
        peakLiveBytes = max(peakLiveBytes, liveBytes)
    }

    func freed(_ bytes: Int) { liveBytes -= bytes }

    /// Runs `body`, charging its time and allocations to `op` in the current phase and layer.
    @inline(__always)
    public static func measure<R>(_ op: String, flops: (R) -> Double = { _ in 0 }, _ body: () -> R) -> R {
        guard let p = current else { return body() }
        let bytes = p.allocatedBytes, start = p.clock.now
        let value = body()
        let d = p.clock.now - start
        let key = Key(op: op, phase: phase, layer: layer)
        var e = p.entries[key] ?? Entry()
        e.seconds += d.seconds
        e.calls += 1
        e.flops += flops(value)
        e.bytes += p.allocatedBytes - bytes
        p.entries[key] = e
        return value
    }

    /// Totals over the keys that `group` maps together, largest time first.
    public func totals<G: Hashable>(by group: (Key) -> G) -> [(group: G, entry: Entry)] {
        var out: [G: Entry] = [:]
        for (k, e) in entries {
            var t = out[group(k)] ?? Entry()
            t.seconds += e.seconds; t.calls += e.calls; t.flops += e.flops; t.bytes += e.bytes
            out[group(k)] = t
        }
        return out.map { ($0.key, $0.value) }.sorted { $0.entry.seconds > $1.entry.seconds }
    }
}

/// Multiply-adds ×2 of the dense ops (the rest count as zero), for GFLOP/s in the profile.
func denseFlops(_ op: String, _ inputs: [[Int]], output: [Int]) -> Double {
    func count(_ s: [Int]) -> Double { Double(s.reduce(1, *)) }
    switch op {
    case "conv2d": return 2 * count(output) * count(Array(inputs[1].dropFirst()))          // out × C·k·k
    case "conv2dInputGrad": return 2 * count(inputs[0]) * count(Array(inputs[1].dropFirst()))  // dy × C·k·k
    case "conv2dWeightGrad":                                                                  // dy × C·k·k
        return 2 * count(inputs[1]) * count(Array(output.dropFirst()))
    case "matmul": return output.first.map { $0 == 0 ? 0 : 2 * count(output) * count(inputs[0]) / Double($0) } ?? 0  // m·n × k
    default: return 0
    }
}
