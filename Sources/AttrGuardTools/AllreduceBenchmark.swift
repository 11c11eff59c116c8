import AttrGuardCore
import AttrGuardDistributed
import Foundation

/// All-reduce cost per message size on the ranks of a communicator, as nccl-tests reports it, and
/// the α–β model fitted to it (what the scaling projection takes).
///
///   time(bytes) ≈ α + β·bytes      algbw = bytes / time      busbw = algbw · 2(n − 1)/n
///
/// busbw is the bandwidth each link carries in a ring all-reduce, comparable across rank counts.
public enum AllreduceBenchmark {
    /// One message size's median time.
    public struct Point: Sendable {
        public let bytes: Int
        /// Median over the repeats, seconds (the slowest rank's, since all-reduce ends together).
        public let seconds: Double
        public let ranks: Int
        public var algorithmBandwidth: Double { Double(bytes) / seconds }
        public var busBandwidth: Double { algorithmBandwidth * 2 * Double(ranks - 1) / Double(ranks) }
    }

    /// α (s) and β (s/byte) by least squares over the points, each weighted by 1/time so that the
    /// small messages (latency) count as much as the large ones (bandwidth).
    public struct Fit: Sendable {
        public let alpha: Double
        public let beta: Double
        public func seconds(bytes: Int) -> Double { alpha + beta * Double(bytes) }
    }

    /// Float32 messages of 4 KiB … 64 MiB (×4 apart) unless `sizes` is given; `repeats` timed
    /// calls each after two warm-ups, the median reported. Every rank must call this together.
    public static func measure(_ communicator: Communicator, sizes: [Int] = stride(from: 12, through: 26, by: 2).map { 1 << $0 },
                               repeats: Int = 20) throws -> [Point] {
        let clock = ContinuousClock()
        return try sizes.map { bytes in
            let buffer = Tensor(repeating: 1, shape: [max(1, bytes / 4)], dtype: .float32)
            var times: [Double] = []
            for i in 0..<(repeats + 2) {
                try communicator.barrier()
                let start = clock.now
                try communicator.allreduce(buffer, op: .sum)
                let d = clock.now - start
                if i >= 2 { times.append(d.seconds) }
            }
            // The slowest rank's median: the all-reduce is done when the last rank is.
            let median = times.sorted()[times.count / 2]
            return Point(bytes: bytes, seconds: try communicator.allreduce([median], op: .max)[0], ranks: communicator.size)
        }
    }

    /// On one rank the all-reduce moves nothing (α = β = 0: communication is free).
    public static func fit(_ points: [Point]) -> Fit {
        guard points.allSatisfy({ $0.ranks > 1 }) else { return Fit(alpha: 0, beta: 0) }
        // Weighted least squares of t = α + β·b with weights 1/t² (relative error).
        var sw = 0.0, swb = 0.0, swbb = 0.0, swt = 0.0, swbt = 0.0
        for p in points {
            let w = 1 / (p.seconds * p.seconds), b = Double(p.bytes)
            sw += w; swb += w * b; swbb += w * b * b; swt += w * p.seconds; swbt += w * b * p.seconds
        }
        let det = sw * swbb - swb * swb
        guard det != 0 else { return Fit(alpha: points.first?.seconds ?? 0, beta: 0) }
        return Fit(alpha: (swbb * swt - swb * swbt) / det, beta: (sw * swbt - swb * swt) / det)
    }
}
