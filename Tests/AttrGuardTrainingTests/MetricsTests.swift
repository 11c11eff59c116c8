import AttrGuardAttribution
import AttrGuardData
import AttrGuardTestSupport
import Foundation
import Testing

@Suite struct MetricsTests {
    @Test func handComputedCasesWithTies() {
        #expect(abs(kendallTau([1, 2, 3], [1, 3, 2]) - 1.0 / 3) < 1e-15)
        #expect(abs(kendallTau([1, 1, 2], [1, 2, 3]) - 2 / 6.0.squareRoot()) < 1e-15)      // τ-b: a's tie leaves 2 of 3 pairs
        #expect(abs(spearmanRho([1, 1, 2], [1, 2, 3]) - 1.5 / 3.0.squareRoot()) < 1e-15)   // ranks (1.5, 1.5, 3) vs (1, 2, 3)
        #expect(kendallTau([1, 1, 1], [1, 2, 3]).isNaN)
        #expect(averageRanks([3, 1, 3, 2]) == [3.5, 1, 3.5, 2])
        #expect(abs(cosineSimilarity([1, 0], [1, 1]) - 0.5.squareRoot()) < 1e-15)
    }

    @Test func topKAndLENS() {
        // a's top pixel is the corner (0,0); b's is the centre (1,1): no exact match, but within a 3×3 window.
        let a = AttributionMap(values: [9, 1, 0, 2, 3, 0, 0, 0, 0], height: 3, width: 3)
        let b = AttributionMap(values: [1, 0, 0, 0, 9, 0, 0, 0, 2], height: 3, width: 3)
        #expect(topKIntersection(a, b, k: 1) == 0)
        #expect(lensTopKIntersection(a, b, k: 1, window: 3) == 1)
        #expect(lensTopKIntersection(a, b, k: 1, window: 1) == 0)
        // top-2: a {0, 4}, b {4, 8}: one exact match; with w=3 pixel 8 touches 4.
        #expect(topKIntersection(a, b, k: 2) == 0.5)
        #expect(lensTopKIntersection(a, b, k: 2, window: 3) == 1)
        // ties at the boundary go to the lower index
        #expect(AttributionMap(values: [1, 5, 5, 0], height: 2, width: 2).topK(2) == [1, 2])
        // diversity: two separate blobs vs one
        let two = AttributionMap(values: [5, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0], height: 3, width: 4)
        #expect(topKRegions(two, k: 2) == 2)
        #expect(topKRegions(AttributionMap(values: [5, 5, 0, 0], height: 2, width: 2), k: 2) == 1)
        #expect(AttributionMap(values: [1, 2, 3, 4, 5, 6, 7, 8, 9], height: 3, width: 3).maxPooled(2).values == [5, 6, 8, 9])
    }

    @Test func lensFamilyByHand() {
        // 5×5 maps. a's top-2: (0,0) and (0,1); b's top-2: (2,2) and (0,2).
        var av = [Double](repeating: 0, count: 25), bv = [Double](repeating: 0, count: 25)
        av[0] = 9; av[1] = 8; av[24] = 1
        bv[12] = 9; bv[2] = 8; bv[3] = 1
        let a = AttributionMap(values: av, height: 5, width: 5), b = AttributionMap(values: bv, height: 5, width: 5)
        // recall: b's (0,2) is next to a's (0,1) at w = 1; (2,2) is 2 rows below (0,1): in at w = 2.
        #expect(lensRecall(a, b, k: 2, halfWidth: 1) == 0.5 && lensRecall(a, b, k: 2, halfWidth: 2) == 1)
        // precision: a's (0,1) is next to b's (0,2); a's (0,0) is 2 columns from (0,2): in at w = 2.
        #expect(lensPrecision(a, b, k: 2, halfWidth: 1) == 0.5 && lensPrecision(a, b, k: 2, halfWidth: 2) == 1)
        // Diverse top-k at w = 1: a picks (0,0), then (0,1) is suppressed, so the next free highest is (4,4).
        #expect(a.diverseTopK(2, halfWidth: 1) == [0, 24])
        #expect(a.diverseTopK(3, halfWidth: 1) == [0, 24, 2])          // ties at 0 go to the lowest free index
        // Exactly k even when the windows cover the map: at w = 3 the four corners suppress all 25 pixels,
        // then the best unpicked pixels follow.
        #expect(a.diverseTopK(6, halfWidth: 3) == [0, 24, 4, 20, 1, 2])
        // w = 1: Div(a) = {0, 24}, Div(b) = {12, 2}: nothing shared or adjacent.
        let div1 = diverseTopKMetrics(a, b, k: 2, halfWidth: 1)
        #expect(div1.intersection == 0 && div1.recall == 0 && div1.precision == 0)
        // w = 2: (2,2) suppresses all of b, so Div(b) = {12, 2} again; both lie within 2 of Div(a) and cover it.
        let div2 = diverseTopKMetrics(a, b, k: 2, halfWidth: 2)
        #expect(div2.intersection == 0 && div2.recall == 1 && div2.precision == 1)
        // SSIM, Pearson, MSE.
        let m = AttributionMap(values: (0..<64).map { Double(($0 * 37) % 11) }, height: 8, width: 8)
        #expect(abs(ssim(m.maxNormalized, m.maxNormalized, height: 8, width: 8) - 1) < 1e-12)
        #expect(abs(pearson(m.values, m.values.map { 3 * $0 + 1 }) - 1) < 1e-12)
        #expect(pearson([1, 1, 1], [1, 2, 3]).isNaN)
        #expect(meanSquaredError([0, 1], [1, 1]) == 0.5)
        let c = AttributionComparison(m, m, k: 6, window: 3)
        #expect(c.named.count == AttributionComparison.names().count && c.named.count == 27)
        #expect(c.lensRecall == [1, 1, 1] && c.topKDivIntersection == [1, 1, 1] && c.mse == 0 && abs(c.ssim - 1) < 1e-12)
    }

    /// 20 random pairs with ties against scipy.stats, numpy and scikit-image's SSIM, to 1e-9 (needs python3 with numpy,
    /// scipy and scikit-image; .ci/run installs them).
    @Test func agreesWithSciPy() throws {
        let dir = try temporaryDirectory()
        let script = repositoryRoot.appendingPathComponent("Tests/scripts/metrics_crosscheck.py").path
        let c = try Child("/usr/bin/env", ["python3", script, attrguardBinary(), dir])
        let status = c.wait(timeout: 300)
        print(c.text)
        #expect(status == 0, "\(c.text)")
        #expect(c.text.contains("20 pairs agree with scipy/numpy") && c.text.contains("also with scikit-image on 15"))
    }

    @Test func badInputsAreNamed() throws {
        let dir = try temporaryDirectory()
        try NPY.write([1, 2, 3, 4], shape: [2, 2], to: "\(dir)/a.npy")
        try NPY.write([1, 2, 3, 4, 5, 6], shape: [2, 3], to: "\(dir)/b.npy")
        try NPY.write([1, .nan, 3, .infinity], shape: [2, 2], to: "\(dir)/nan.npy")
        let good = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/a.npy"))
        try good.prefix(good.count - 2).write(to: URL(fileURLWithPath: "\(dir)/t.npy"))
        // Hand-made headers: negative and overflowing shapes whose byte count is plausible or huge.
        func npy(_ shape: String, floats: Int) -> Data {
            var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
            while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
            header += "\n"
            return Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0]) + Data(header.utf8) + Data(count: 4 * floats)
        }
        try npy("(-2, -2)", floats: 4).write(to: URL(fileURLWithPath: "\(dir)/neg.npy"))
        try npy("(1099511627776, 1099511627776)", floats: 4).write(to: URL(fileURLWithPath: "\(dir)/huge.npy"))
        try npy("(2, x)", floats: 4).write(to: URL(fileURLWithPath: "\(dir)/word.npy"))
        let cases: [([String], String)] = [
            (["\(dir)/a.npy", "\(dir)/neg.npy", "--k", "2"], "neg.npy: shape (-2, -2): '-2' is not a size"),
            (["\(dir)/huge.npy", "\(dir)/a.npy", "--k", "2"], "huge.npy: shape (1099511627776, 1099511627776) is too large"),
            (["\(dir)/a.npy", "\(dir)/word.npy", "--k", "2"], "word.npy: shape (2, x): 'x' is not a size"),
            (["\(dir)/a.npy", "\(dir)/a.npy", "--k", "5"], "--k 5 must be in 1…3"),
            (["\(dir)/a.npy", "\(dir)/a.npy", "--k", "4"], "--k 4 must be in 1…3"),
            (["\(dir)/a.npy", "\(dir)/nan.npy", "--k", "2"], "nan.npy: 2 of its 4 values are not finite"),
            (["\(dir)/a.npy", "\(dir)/b.npy", "--k", "2"], "is 2×2 but"),
            (["\(dir)/a.npy", "\(dir)/t.npy", "--k", "2"], "t.npy: truncated"),
        ]
        for (args, message) in cases {
            let (status, out) = try runAttrguard(["metrics"] + args)
            #expect(status != 0 && out.contains(message), "\(out)")
        }
        let (status, out) = try runAttrguard(["metrics", "\(dir)/a.npy", "\(dir)/a.npy", "--k", "2", "--window", "1", "--json"])
        #expect(status == 0 && out.contains("\"kendall\": 1.0") && out.contains("\"topk_intersection\": 1.0"), "\(out)")
    }
}
