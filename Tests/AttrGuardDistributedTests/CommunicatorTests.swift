import AttrGuardCore
import AttrGuardDistributed
import Foundation
import AttrGuardTestSupport
import Testing

@Suite(.serialized) struct CommunicatorTests {
    @Test func withoutMPIRunTheWorldIsOneRank() throws {
        let world = Communicator.world
        #expect(world.size == 1 && world.rank == 0 && !world.usesMPI)
        let t = Tensor(shape: [3], values: [1, 2, 3], dtype: .float32)
        try world.allreduce(t, op: .average)
        #expect(t.doubles == [1, 2, 3])
        #expect(try world.allEqual(7))
    }

    @Test(arguments: [2, 3])
    func allreduceAcrossRanksUnderMPIRun(ranks: Int) throws {
        let (status, output) = try runMPI(ranks: ranks, ["allreduce-check", "--count", "100003"])
        print(output)
        #expect(status == 0, "\(output)")
        for r in 0..<ranks {
            #expect(output.contains("rank \(r)/\(ranks) float32: allreduce sum ok, average ok, broadcast ok"))
            #expect(output.contains("rank \(r)/\(ranks) float64: allreduce sum ok, average ok, broadcast ok"))
        }
    }

    /// `bench allreduce` on 3 ranks: one point per size, bus bandwidth = algorithm bandwidth ·
    /// 2(n − 1)/n, and a fit with a positive bandwidth, in the --out file.
    @Test func allreduceBenchmarkReportsPointsAndAFit() throws {
        let file = "\(try temporaryDirectory())/ar.json"
        let (status, output) = try runMPI(ranks: 3, ["bench", "allreduce", "--repeats", "5", "--max-mib", "1", "--out", file])
        #expect(status == 0, "\(output)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as! [String: Any]
        let points = report["points"] as! [[String: Any]], fit = report["fit"] as! [String: Any]
        #expect(points.map { $0["bytes"] as! Int } == [4096, 16384, 65536, 262144, 1048576])
        for p in points {
            let t = p["time_us"] as! Double, alg = p["algbw_gbs"] as! Double, bus = p["busbw_gbs"] as! Double
            #expect(p["ranks"] as! Int == 3 && t > 0)
            #expect(Swift.abs(bus - alg * 4 / 3) <= 0.02 + 0.01 * alg, "busbw = algbw · 2(n−1)/n")
        }
        #expect(fit["ranks"] as! Int == 3 && (fit["bandwidth_gbs"] as! Double) > 0)
    }
}

@Suite struct GradientBucketTests {
    @Test func bucketsCoverTheBufferAndAverageOnOneRank() throws {
        let counts = [300, 5, 1000, 2, 70]
        let buckets = GradientBuckets(counts: counts, dtype: .float32, bucketBytes: 1024, communicator: Communicator.world)
        #expect(buckets.bucketCount == 3)   // 1220 B | 4008 B | 288 B
        for i in [4, 2, 0, 3, 1] {
            buckets.ready(i, Variable(Tensor(repeating: Double(i + 1), shape: [counts[i]], dtype: .float32)))
        }
        let flat = try buckets.finish().doubles
        var expected: [Double] = []
        for (i, c) in counts.enumerated() { expected += [Double](repeating: Double(i + 1), count: c) }
        #expect(flat == expected)
    }
}

/// launch/scaling-model.py on made-up inputs: 1 rank is the measured step, a slow network makes
/// the all-reduce show (efficiency below 1 and falling with the rank count), and the per-bucket
/// ring formula gives the printed all-reduce time.
@Suite struct ScalingModelTests {
    @Test func projectionFollowsTheModel() throws {
        let dir = try temporaryDirectory()
        try #"{"batch":32,"method":"l2cos","model":"resnet18","step_ms":100.0}"#.write(toFile: "\(dir)/step.json", atomically: true, encoding: .utf8)
        try #"{"fit":{"alpha_us":1.0,"bandwidth_gbs":4.0,"ranks":2}}"#.write(toFile: "\(dir)/ar.json", atomically: true, encoding: .utf8)
        let script = repositoryRoot.appendingPathComponent("launch/scaling-model.py").path
        let c = try Child("/usr/bin/env", ["python3", script, "--step", "\(dir)/step.json", "--allreduce", "\(dir)/ar.json",
                                           "--inter-gbs", "0.5", "--ranks", "1,2,16,64", "--json"])
        #expect(c.wait(timeout: 60) == 0, "\(c.text)")
        let rows = (try JSONSerialization.jsonObject(with: Data(c.text.utf8)) as! [String: Any])["rows"] as! [[String: Any]]
        let points = rows[0]["points"] as! [[String: Double]]
        #expect(points[0]["efficiency"] == 1 && Swift.abs(points[0]["images_per_s"]! - 320) < 1e-9)
        // 2 ranks inside a node: 44.7 MB in two buckets, 2·1·1 µs + 1·bytes/4 GB/s each.
        let bytes = 4.0 * 11_173_962
        #expect(Swift.abs(points[1]["allreduce_ms"]! - (2 * 2e-6 + bytes / 4e9) * 1e3) < 1e-6)
        let efficiency = points.map { $0["efficiency"]! }
        #expect(efficiency[3] < efficiency[2] && efficiency[2] < efficiency[1] && efficiency[3] < 0.5)
    }
}
