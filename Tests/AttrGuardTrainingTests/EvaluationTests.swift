import AttrGuardAttribution
import AttrGuardCore
import AttrGuardNN
import AttrGuardTestSupport
import AttrGuardTraining
import Foundation
import Testing

/// A small trained checkpoint (BN and ReLU included, so the attack's Softplus surrogate is exercised).
func trainedCheckpoint() throws -> (dir: String, config: String) {
    let dir = try temporaryDirectory()
    let config = """
    seed: 1
    model:
      name: layers
      layers:
        - {type: conv2d, in: 3, out: 8, kernel: 3, stride: 1, padding: 1, bias: false}
        - {type: batchnorm2d, features: 8}
        - {type: relu}
        - {type: maxpool2d, kernel: 2}
        - {type: conv2d, in: 8, out: 8, kernel: 3, stride: 2, padding: 1}
        - {type: softplus, beta: 10}
        - {type: global_avgpool}
        - {type: flatten}
        - {type: linear, in: 8, out: 10}
    data: {dataset: synthetic, train_per_class: 20, test_per_class: 4}
    method: {name: standard}
    optim: {lr: 0.05}
    train: {epochs: 50, max_steps: 12, global_batch: 16}
    checkpoint: {dir: \(dir)/checkpoints}
    """
    try config.write(toFile: "\(dir)/c.yaml", atomically: true, encoding: .utf8)
    let (status, out) = try runAttrguard(["train", "--config", "\(dir)/c.yaml"])
    try #require(status == 0, "\(out)")
    return (dir, "\(dir)/c.yaml")
}

@Suite struct AttributionMethodTests {
    func smallModel() throws -> (Model, Tensor, [Int]) {
        let net = try Network(layers: [.conv2d(in: 2, out: 3, kernel: 3, stride: 1, padding: 1, bias: true), .softplus(beta: 2),
                                       .globalAvgPool, .flatten, .linear(in: 3, out: 4, bias: true)], inputShape: [2, 5, 5])
        var rng = RandomStream(seed: 8)
        let p = ParameterSet(network: net, dtype: .float64, rng: &rng)
        let x = Tensor.uniform([3, 2, 5, 5], low: 0, high: 1, dtype: .float64, rng: &rng)
        return (Model(network: net, parameters: p.variables(), statistics: [:], mode: .evaluation), x, [0, 3, 1])
    }

    /// Completeness: Σ IG(x) → f(x)[y] − f(0)[y] as the path steps grow (right Riemann sum).
    @Test func integratedGradientsAreComplete() throws {
        var (model, x, labels) = try smallModel()
        var settings = AttributionSettings()
        settings.igSteps = 400
        let ig = try attribute(.integratedGradients, &model, Variable(x), labels: labels, settings: settings,
                               noise: PerturbationNoise(seed: 0, count: 3), createGraph: false).value.doubles
        let fx = model.logits(Variable(x)).value.doubles, f0 = model.logits(Variable(Tensor(zeros: x.shape, dtype: .float64))).value.doubles
        for (b, y) in labels.enumerated() {
            let total = ig[(b * 50)..<((b + 1) * 50)].reduce(0, +)
            #expect(abs(total - (fx[b * 4 + y] - f0[b * 4 + y])) < 5e-3 * max(1, abs(fx[b * 4 + y] - f0[b * 4 + y])))
        }
    }

    @Test func methodsAgreeWhereTheyMust() throws {
        var (model, x, labels) = try smallModel()
        var settings = AttributionSettings()
        let noise = PerturbationNoise(seed: 0, count: 3)
        let saliency = try attribute(.saliency, &model, Variable(x), labels: labels, settings: settings, noise: noise, createGraph: false).value.doubles
        let gxi = try attribute(.gradientTimesInput, &model, Variable(x), labels: labels, settings: settings, noise: noise, createGraph: false).value.doubles
        #expect(zip(zip(saliency, x.doubles), gxi).allSatisfy { abs($0.0 * $0.1 - $1) < 1e-15 })
        settings.smoothGradNoise = 0
        settings.smoothGradSamples = 3
        let smooth = try attribute(.smoothGrad, &model, Variable(x), labels: labels, settings: settings, noise: noise, createGraph: false).value.doubles
        #expect(zip(saliency, smooth).allSatisfy { abs($0 - $1) < 1e-14 })
    }

    @Test func topKAttackKeepsLabelsAndTheBall() throws {
        var (model, x, _) = try smallModel()
        let predicted = argmaxRows(model.logits(Variable(x)).value)
        var s = AttackSettings()
        s.k = 5; s.iterations = 5; s.epsilon = 0.05; s.stepSize = 0.02
        let adv = try attack(.topK, &model, x: x, labels: predicted, settings: s, attribution: AttributionSettings(),
                             noise: PerturbationNoise(seed: 0, count: 3))
        #expect(zip(adv.doubles, x.doubles).allSatisfy { abs($0 - $1) <= 0.05 + 1e-12 && $0 >= 0 && $0 <= 1 })
        #expect(argmaxRows(model.logits(Variable(adv)).value) == predicted)
        #expect(adv.doubles != x.doubles)
        // It moves the top-k pixels more than random signs of the same ε do.
        let noisy = try attack(.randomSign, &model, x: x, labels: predicted, settings: s, attribution: AttributionSettings(),
                               noise: PerturbationNoise(seed: 0, count: 3))
        func meanIntersection(_ t: Tensor) throws -> Double {
            let before = attributionMaps(pixelMap(try attribute(.saliency, &model, Variable(x), labels: predicted, settings: AttributionSettings(),
                                                                noise: PerturbationNoise(seed: 0, count: 3), createGraph: false)).value)
            let after = attributionMaps(pixelMap(try attribute(.saliency, &model, Variable(t), labels: predicted, settings: AttributionSettings(),
                                                               noise: PerturbationNoise(seed: 0, count: 3), createGraph: false)).value)
            return zip(before, after).map { topKIntersection($0, $1, k: 5) }.reduce(0, +) / 3
        }
        #expect(try meanIntersection(adv) < meanIntersection(noisy))
    }

    /// The mass-center attack keeps labels and the ε-ball and moves the saliency map's centre of
    /// mass further than random signs of the same ε.
    @Test func massCenterAttackMovesTheCentre() throws {
        var (model, x, _) = try smallModel()
        let predicted = argmaxRows(model.logits(Variable(x)).value)
        var s = AttackSettings()
        s.iterations = 8; s.epsilon = 0.05; s.stepSize = 0.01
        let noise = PerturbationNoise(seed: 0, count: 3)
        let moved = try attack(.massCenter, &model, x: x, labels: predicted, settings: s, attribution: AttributionSettings(), noise: noise)
        let noisy = try attack(.randomSign, &model, x: x, labels: predicted, settings: s, attribution: AttributionSettings(), noise: noise)
        #expect(zip(moved.doubles, x.doubles).allSatisfy { abs($0 - $1) <= 0.05 + 1e-12 && $0 >= 0 && $0 <= 1 })
        #expect(argmaxRows(model.logits(Variable(moved)).value) == predicted)
        func shift(_ t: Tensor) throws -> Double {
            func maps(_ u: Tensor) throws -> [AttributionMap] {
                attributionMaps(pixelMap(try attribute(.saliency, &model, Variable(u), labels: predicted, settings: AttributionSettings(),
                                                       noise: noise, createGraph: false)).value)
            }
            return zip(try maps(x), try maps(t)).map { a, b in
                let (c0, c1) = (massCenter(a), massCenter(b))
                return ((c1.row - c0.row) * (c1.row - c0.row) + (c1.column - c0.column) * (c1.column - c0.column)).squareRoot()
            }.reduce(0, +) / 3
        }
        let attacked = try shift(moved), random = try shift(noisy)
        print("centre of mass moved \(attacked) pixels by the mass-center attack, \(random) by random signs")
        #expect(attacked > random && attacked > 0)
    }

    /// The top-k attack aimed at integrated gradients (through its path points) moves the IG map's
    /// top-k more than the same attack aimed at saliency does: it is the stronger attack on IG.
    @Test func attackingIGItselfBeatsTheTransferredSaliencyAttack() throws {
        var (model, x, _) = try smallModel()
        let predicted = argmaxRows(model.logits(Variable(x)).value)
        var attribution = AttributionSettings()
        attribution.igSteps = 8
        let noise = PerturbationNoise(seed: 0, count: 3)
        func igMaps(_ t: Tensor) throws -> [AttributionMap] {
            attributionMaps(pixelMap(try attribute(.integratedGradients, &model, Variable(t), labels: predicted, settings: attribution,
                                                   noise: noise, createGraph: false)).value)
        }
        let original = try igMaps(x)
        func igIntersection(after target: AttributionMethod) throws -> Double {
            var s = AttackSettings()
            s.k = 5; s.iterations = 8; s.epsilon = 0.05; s.stepSize = 0.01; s.target = target
            let adv = try attack(.topK, &model, x: x, labels: predicted, settings: s, attribution: attribution, noise: noise)
            return zip(original, try igMaps(adv)).map { topKIntersection($0, $1, k: 5) }.reduce(0, +) / 3
        }
        let direct = try igIntersection(after: .integratedGradients), transferred = try igIntersection(after: .saliency)
        print("IG top-5 intersection after the top-k attack aimed at IG \(direct), aimed at saliency \(transferred)")
        #expect(direct < transferred)
    }

    /// The manipulation attack drives the max-normalised map toward the border-frame target (its
    /// squared distance falls) while the logits stay close and x' stays in the ε-ball.
    @Test(arguments: [AttributionMethod.saliency, .integratedGradients])
    func manipulationMovesTheMapTowardTheTargetAndKeepsTheLogits(method: AttributionMethod) throws {
        var (model, x, _) = try smallModel()
        let predicted = argmaxRows(model.logits(Variable(x)).value)
        var attribution = AttributionSettings()
        attribution.igSteps = 6
        var s = AttackSettings()
        s.iterations = 40; s.epsilon = 0.25; s.target = method
        let noise = PerturbationNoise(seed: 0, count: 3)
        let adv = try attack(.manipulation, &model, x: x, labels: predicted, settings: s, attribution: attribution, noise: noise)
        #expect(zip(adv.doubles, x.doubles).allSatisfy { abs($0 - $1) <= 0.25 + 1e-12 && $0 >= 0 && $0 <= 1 })
        let target = frameTarget(height: 5, width: 5, frame: 1)   // default width on 5×5 maps: 1
        func distance(_ t: Tensor) throws -> Double {
            let h = maxNormalizedMap(try attribute(method, &model, Variable(t, requiresGrad: true), labels: predicted, settings: attribution,
                                                   noise: noise, createGraph: false)).value.doubles
            return h.indices.map { (h[$0] - target[$0 % 25]) * (h[$0] - target[$0 % 25]) }.reduce(0, +) / Double(h.count)
        }
        let before = try distance(x), after = try distance(adv)
        let f0 = model.logits(Variable(x)).value.doubles, f1 = model.logits(Variable(adv)).value.doubles
        let drift = zip(f0, f1).map { abs($0 - $1) }.max()!, scale = f0.map(abs).max()!
        let random = try distance(try attack(.randomPerturbation, &model, x: x, labels: predicted, settings: s, attribution: attribution, noise: noise))
        print("\(method.rawValue): MSE to the target \(before) → \(after) (random perturbation of the same ε: \(random)); logits moved by at most \(drift) (largest logit \(scale))")
        #expect(after < 0.9 * before && after < random)   // this small, nearly linear net moves saliency least: 0.38 → 0.31
        #expect(drift < 0.05 * scale)
    }

    /// More restarts never select a worse iterate (restart 0 is the single run), Kendall selection
    /// picks an iterate at least as damaging in τ as the top-k measure's, and quantised iterates lie
    /// on whole 1/255 levels.
    @Test func restartsSelectionAndQuantisation() throws {
        var (model, x, _) = try smallModel()
        let q = Tensor(shape: x.shape, values: x.doubles.map { ($0 * 255).rounded() / 255 }, dtype: x.dtype)
        let predicted = argmaxRows(model.logits(Variable(q)).value)
        let noise = PerturbationNoise(seed: 0, count: 3)
        func kendalls(_ settings: AttackSettings) throws -> [Double] {
            let adv = try attack(.topK, &model, x: q, labels: predicted, settings: settings, attribution: AttributionSettings(), noise: noise)
            func maps(_ t: Tensor) throws -> [AttributionMap] {
                attributionMaps(pixelMap(try attribute(.saliency, &model, Variable(t), labels: predicted, settings: AttributionSettings(),
                                                       noise: noise, createGraph: false)).value)
            }
            return zip(try maps(q), try maps(adv)).map { kendallTau($0.values, $1.values) }
        }
        var s = AttackSettings()
        s.k = 5; s.iterations = 6; s.epsilon = 8.0 / 255; s.stepSize = 2.0 / 255
        s.selection = .kendall
        let one = try kendalls(s)
        s.restarts = 3
        let three = try kendalls(s)
        s.restarts = 1; s.selection = .topK
        let byTopK = try kendalls(s)
        print("Kendall τ after the top-k attack: 1 run \(one), 3 restarts \(three), top-k selection \(byTopK)")
        #expect(zip(three, one).allSatisfy { $0 <= $1 + 1e-15 } && zip(three, one).contains { $0 < $1 })
        #expect(zip(one, byTopK).allSatisfy { $0 <= $1 + 1e-15 })
        s.quantize = true; s.restarts = 2
        let adv = try attack(.topK, &model, x: q, labels: predicted, settings: s, attribution: AttributionSettings(), noise: noise)
        #expect(adv.doubles.allSatisfy { abs($0 * 255 - ($0 * 255).rounded()) < 1e-9 } && adv.doubles != q.doubles)
        #expect(zip(adv.doubles, q.doubles).allSatisfy { abs($0 - $1) <= 8.0 / 255 + 1e-12 })
    }

    /// Random perturbation: `draws` different points of the ε-ball, the same for the same keys.
    @Test func randomPerturbationDraws() throws {
        var (model, x, labels) = try smallModel()
        var s = AttackSettings()
        s.epsilon = 0.05; s.draws = 4
        let noise = PerturbationNoise(seed: 3, count: 3)
        let draws = try perturbations(.randomPerturbation, &model, x: x, labels: labels, settings: s, attribution: AttributionSettings(), noise: noise)
        #expect(draws.count == 4 && Set(draws.map(\.doubles)).count == 4)
        #expect(draws.allSatisfy { d in zip(d.doubles, x.doubles).allSatisfy { abs($0 - $1) <= 0.05 + 1e-12 && $0 >= 0 && $0 <= 1 } })
        let again = try perturbations(.randomPerturbation, &model, x: x, labels: labels, settings: s, attribution: AttributionSettings(), noise: noise)
        #expect(again.map(\.doubles) == draws.map(\.doubles))
    }
}

@Suite(.serialized) struct EvaluationTests {
    @Test func evalWritesAReportAndAFigureAndAgreesAcrossRankCounts() throws {
        let (dir, config) = try trainedCheckpoint()
        let args = ["eval", "--checkpoint", "\(dir)/checkpoints", "--samples", "12", "--batch", "5", "--k", "20",
                    "--attack-iterations", "3", "--ig-steps", "4", "--methods", "saliency,integrated_gradients,smoothgrad,gradient_x_input",
                    "--attacks", "topk,mass_center,random_sign,manipulation,random_perturbation", "--restarts", "2", "--selection", "kendall",
                    "--draws", "2", "--epsilons", "2,8", "--epsilon", "0.0313725490196", "--windows", "1,2",
                    "--smoothgrad-samples", "3", "--no-correct-only",   // every image, so n is known
                    "--sampling-metrics", "max_sensitivity,avg_sensitivity,local_lipschitz,ris,ros", "--sampling-draws", "2"]
        let (s1, o1) = try runMPI(ranks: 1, args + ["--out", "\(dir)/e1"])
        #expect(s1 == 0, "\(o1)")
        let (s2, o2) = try runMPI(ranks: 2, args + ["--out", "\(dir)/e2"])
        #expect(s2 == 0, "\(o2)")
        #expect(o1.contains("eval: 12/12 images in") && o2.components(separatedBy: "eval: 12/12 images in").count == 2, "rank 0 reports progress once")
        let r1 = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/e1/report.json"))) as! [String: Any]
        let r2 = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/e2/report.json"))) as! [String: Any]
        #expect(r1["samples"] as? Int == 12 && r2["ranks"] as? Int == 2 && r1["attribution_images"] as? Int == 12)
        #expect(r1["accuracy"] as? Double == r2["accuracy"] as? Double)
        typealias Table = [String: [String: [String: [String: Any]]]]
        let sweep1 = r1["sweep"] as! [[String: Any]], sweep2 = r2["sweep"] as! [[String: Any]]
        #expect(sweep1.map { $0["epsilon_255"] as! Double } == [2, 8] && sweep2.count == 2)
        // The top-level table is the sweep's 8/255 entry; every metric of every entry agrees across rank counts.
        let tables: [(Table, Table)] = [(r1["attributions"] as! Table, r2["attributions"] as! Table)]
            + zip(sweep1, sweep2).map { ($0["attributions"] as! Table, $1["attributions"] as! Table) }
        #expect(NSDictionary(dictionary: tables[0].0) == NSDictionary(dictionary: tables[2].0))
        let names = AttributionComparison.names(halfWidths: [1, 2])
        #expect(names.contains("lens_recall_div_w2") && !names.contains("lens_recall_w3"))
        for (a1, a2) in tables {
            #expect(Set(a1.keys) == ["saliency", "integrated_gradients", "smoothgrad", "gradient_x_input"])
            for (method, attacks) in a1 {
                #expect(Set(attacks.keys) == ["topk", "mass_center", "random_sign", "manipulation", "random_perturbation"])
                for (attackName, metrics) in attacks {
                    #expect(Set(metrics.keys) == Set(names))
                    for key in names {
                        let m1 = metrics[key]!["mean"] as! Double, m2 = a2[method]![attackName]![key]!["mean"] as! Double
                        let s1 = metrics[key]!["std"] as! Double, s2 = a2[method]![attackName]![key]!["std"] as! Double
                        #expect(abs(m1 - m2) <= 1e-9 * max(1, abs(m1)) && abs(s1 - s2) <= 1e-9 * max(1, s1), "\(method) \(attackName) \(key): \(m1) vs \(m2)")
                        #expect(metrics[key]!["n"] as? Int == 12, "\(method) \(attackName) \(key)")
                    }
                    #expect((metrics["kendall"]!["mean"] as! Double) <= 1 && (metrics["topk_intersection"]!["mean"] as! Double) >= 0)
                }
            }
        }
        // Sampling metrics, per-image scores and activation agreement: the same from 1 and 2 ranks.
        typealias Metrics = [String: [String: [String: Any]]]
        let sampling1 = r1["sampling"] as! Metrics, sampling2 = r2["sampling"] as! Metrics
        #expect(Set(sampling1.keys) == ["saliency", "integrated_gradients", "smoothgrad", "gradient_x_input"])
        for (method, metrics) in sampling1 {
            #expect(Set(metrics.keys) == Set(SamplingMetric.allCases.map(\.rawValue)), "\(method)")
            for (metric, summary) in metrics {
                let m1 = summary["mean"] as! Double, m2 = sampling2[method]![metric]!["mean"] as! Double
                #expect(abs(m1 - m2) <= 1e-9 * max(1, abs(m1)) && m1 >= 0, "sampling \(method) \(metric): \(m1) vs \(m2)")
                if metric.hasSuffix("sensitivity") { #expect(summary["n"] as? Int == 12) }
            }
        }
        let settings = r1["sampling_settings"] as! [String: Any]
        #expect(settings["draws"] as? Int == 2 && settings["radius"] as? Double == 0.02 && settings["noise"] as? String == "uniform")
        typealias PerImage = [String: [String: [String: [Double]]]]
        let images1 = r1["per_image"] as! PerImage, images2 = r2["per_image"] as! PerImage
        for (method, attacks) in images1 {
            for (attackName, scores) in attacks {
                #expect(scores["images"]! == (0..<12).map(Double.init), "\(method) \(attackName)")
                for key in ["cosine", "kendall"] {
                    #expect(zip(scores[key]!, images2[method]![attackName]![key]!).allSatisfy { abs($0 - $1) <= 1e-9 })
                }
                // The per-image values average to the table's mean.
                let mean = scores["kendall"]!.reduce(0, +) / 12, table = (r1["attributions"] as! Table)[method]![attackName]!["kendall"]!["mean"] as! Double
                #expect(abs(mean - table) <= 1e-9, "\(method) \(attackName): per-image Kendall mean \(mean) vs \(table)")
            }
        }
        let agreement1 = r1["activation_agreement"] as! Table, agreement2 = r2["activation_agreement"] as! Table
        for (method, attacks) in agreement1 {
            for (attackName, layers) in attacks {
                #expect(Set(layers.keys) == ["2", "5"], "the ReLU and the Softplus layer")
                for (layer, summary) in layers {
                    let m1 = summary["mean"] as! Double, m2 = agreement2[method]![attackName]![layer]!["mean"] as! Double
                    #expect(m1 >= 0 && m1 <= 1 && abs(m1 - m2) <= 1e-12, "\(method) \(attackName) layer \(layer)")
                }
            }
        }
        #expect(agreement1["saliency"]!["topk"]!.values.contains { ($0["mean"] as! Double) < 1 }, "the attack changes some states")
        let timing = r1["seconds_per_image"] as! [String: [String: Double]]
        #expect(timing["manipulation"]!["integrated_gradients"]! > 0 && timing.count == 5)
        for file in ["attributions.png", "sweep-saliency.png", "sweep-smoothgrad.png", "kendall-vs-cosine.png"] {
            let png = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/e1/\(file)"))
            #expect(png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) && png.count > 1000, "\(file)")
        }
        _ = config
    }

    /// A rank without images (1 image, 2 ranks) reduces over the same keys as the one with it: the
    /// per-layer activation agreement and the sampling metrics come out as on 1 rank.
    @Test func aRankWithoutImagesReducesTheSameKeys() throws {
        let (dir, _) = try trainedCheckpoint()
        let args = ["eval", "--checkpoint", "\(dir)/checkpoints", "--samples", "1", "--k", "20", "--attack-iterations", "2",
                    "--methods", "saliency", "--attacks", "topk", "--no-correct-only", "--sampling-metrics", "max_sensitivity", "--sampling-draws", "2"]
        let (s1, o1) = try runMPI(ranks: 1, args + ["--out", "\(dir)/one"])
        let (s2, o2) = try runMPI(ranks: 2, args + ["--out", "\(dir)/two"])
        #expect(s1 == 0 && s2 == 0, "\(o1)\n\(o2)")
        let r1 = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/one/report.json"))) as! [String: Any]
        let r2 = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/two/report.json"))) as! [String: Any]
        #expect(NSDictionary(dictionary: r1["activation_agreement"] as! [String: Any]) == NSDictionary(dictionary: r2["activation_agreement"] as! [String: Any]))
        #expect(NSDictionary(dictionary: r1["sampling"] as! [String: Any]) == NSDictionary(dictionary: r2["sampling"] as! [String: Any]))
        #expect((r2["per_image"] as! [String: [String: [String: [Double]]]])["saliency"]!["topk"]!["images"]! == [0])
    }

    @Test func exportedSafetensorsLoadInPythonAndBack() throws {
        let (dir, config) = try trainedCheckpoint()
        let (status, out) = try runAttrguard(["export", "--checkpoint", "\(dir)/checkpoints", "--out", "\(dir)/model.safetensors"])
        #expect(status == 0, "\(out)")
        let cfg = try TrainingConfig.load(path: config)
        let net = try Network(layers: cfg.layers, inputShape: cfg.inputShape)
        let ckpt = try Checkpoint.read(Checkpoint.latest(in: "\(dir)/checkpoints"), network: net)
        // Python with NumPy alone reads names, shapes and values.
        let c = try Child("/usr/bin/env", ["python3", repositoryRoot.appendingPathComponent("Tests/scripts/read_safetensors.py").path, "\(dir)/model.safetensors"])
        #expect(c.wait(timeout: 60) == 0, "\(c.text)")
        let parsed = try JSONSerialization.jsonObject(with: Data(c.text.utf8)) as! [String: Any]
        let tensors = parsed["tensors"] as! [String: [Any]]
        #expect(Set(tensors.keys) == Set(ckpt.parameters.names + ["1.running_mean", "1.running_var"]))
        for name in ckpt.parameters.names {
            let t = ckpt.parameters[name], entry = tensors[name]!
            #expect(entry[0] as! [Int] == t.shape, "\(name)")
            #expect(abs((entry[1] as! Double) - t.doubles.reduce(0, +)) < 1e-4, "\(name)")
            #expect(abs((entry[2] as! Double) - t.doubles[0]) <= 1e-12 * abs(t.doubles[0]), "\(name)")
        }
        // And back into AttrGuard.
        let (params, stats) = try Safetensors.load("\(dir)/model.safetensors", network: net, dtype: .float32)
        #expect(params.flat.doubles == ckpt.parameters.flat.doubles)
        #expect(stats["1"]!.variance.doubles == ckpt.statistics["1"]!.variance.doubles)
    }

    /// `export --out` writes where a symbolic link points (the link stays), never replaces a
    /// directory or a non-regular file, and names the missing directory.
    @Test func exportWritesOnlyRegularFiles() throws {
        let (dir, _) = try trainedCheckpoint()
        func export(_ out: String) throws -> (Int32, String) { try runAttrguard(["export", "--checkpoint", "\(dir)/checkpoints", "--out", out]) }
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/link.safetensors", withDestinationPath: "target.safetensors")
        let (s1, o1) = try export("\(dir)/link.safetensors")
        #expect(s1 == 0, "\(o1)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/link.safetensors") == "target.safetensors")
        #expect(try Safetensors.read("\(dir)/target.safetensors").count > 0)
        #expect(mkfifo("\(dir)/pipe", 0o644) == 0)
        let cases = [("\(dir)/pipe", "is a device, pipe or socket, not a regular file; refusing to replace it"),
                     (dir, "is a directory; give a file name"),
                     ("\(dir)/missing/m.safetensors", "directory \(dir)/missing does not exist")]
        for (out, message) in cases {
            let (status, text) = try export(out)
            #expect(status != 0 && text.contains("\(out): cannot write: ") && text.contains(message), "\(text)")
        }
        var st = stat()
        #expect(lstat("\(dir)/pipe", &st) == 0 && st.st_mode & S_IFMT == S_IFIFO)
    }

    @Test func badInputsAreNamed() throws {
        let (dir, config) = try trainedCheckpoint()
        // A config of another architecture for this checkpoint.
        let other = try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: "out: 8, kernel: 3, stride: 2", with: "out: 6, kernel: 3, stride: 2")
            .replacingOccurrences(of: "in: 8, out: 10", with: "in: 6, out: 10")
        try other.write(toFile: "\(dir)/other.yaml", atomically: true, encoding: .utf8)
        let (s1, o1) = try runAttrguard(["eval", "--checkpoint", "\(dir)/checkpoints", "--config", "\(dir)/other.yaml", "--samples", "2"])
        #expect(s1 != 0 && o1.contains("another architecture: parameter 3 is 4.weight [8, 8, 3, 3] in the checkpoint, 4.weight [6, 8, 3, 3] in the network"), "\(o1)")
        let (s2, o2) = try runAttrguard(["eval", "--checkpoint", "\(dir)/checkpoints", "--samples", "2", "--k", "1024"])
        #expect(s2 != 0 && o2.contains("--k: 1024 must be in 1…1023"), "\(o2)")
        let named: [([String], String)] = [
            (["--protocol", "dombrowski"], "--protocol"), (["--windows", "1,0"], "--windows: '0' is not a half-width"),
            (["--epsilons", "2,-1"], "--epsilons: '-1' is not a positive ε"), (["--epsilons", "0"], "--epsilons: '0' is not a positive ε"),
            (["--attacks", "topk,fgsm"], "--attacks: unknown value 'fgsm'"), (["--methods", "lrp"], "--methods: unknown value 'lrp'"),
            (["--selection", "spearman"], "--selection"), (["--epsilon", "-0.1"], "--epsilon"), (["--restarts", "0"], "--restarts: 0 must be in 1…1000"),
            (["--draws", "0"], "--draws"),
        ]
        for (extra, message) in named {
            let (status, text) = try runAttrguard(["eval", "--checkpoint", "\(dir)/checkpoints", "--samples", "2"] + extra)
            #expect(status != 0 && text.contains(message), "\(extra): \(text)")
        }
        // An output that cannot take the report fails before the evaluation, naming it.
        try Data().write(to: URL(fileURLWithPath: "\(dir)/a-file"))
        let (s4, o4) = try runAttrguard(["eval", "--checkpoint", "\(dir)/checkpoints", "--samples", "2", "--out", "\(dir)/a-file"])
        #expect(s4 != 0 && o4.contains("a-file: --out names a file") && !o4.contains("eval: 2 images"), "\(o4)")
        let (s5, o5) = try runAttrguard(["eval", "--checkpoint", "\(dir)/checkpoints", "--samples", "2", "--window", "2"])
        #expect(s5 != 0 && o5.contains("--window 2 must be odd"), "\(o5)")
        let (s6, o6) = try runAttrguard(["eval", "--checkpoint", "\(dir)/checkpoints", "--samples", "2", "--epsilon", "0"])
        #expect(s6 != 0 && o6.contains("--epsilon must be positive"), "\(o6)")
        _ = try runAttrguard(["export", "--checkpoint", "\(dir)/checkpoints", "--out", "\(dir)/m.safetensors"])
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/m.safetensors"))
        try data.prefix(data.count - 8).write(to: URL(fileURLWithPath: "\(dir)/t.safetensors"))
        let net = try Network(layers: TrainingConfig.load(path: config).layers, inputShape: [3, 32, 32])
        #expect(throws: (any Error).self) { try Safetensors.load("\(dir)/t.safetensors", network: net, dtype: .float32) }
        do { _ = try Safetensors.load("\(dir)/t.safetensors", network: net, dtype: .float32) } catch {
            #expect("\(error)".contains("t.safetensors") && "\(error)".contains("truncated"), "\(error)")
        }
        let ckpt = try Data(contentsOf: URL(fileURLWithPath: try Checkpoint.latest(in: "\(dir)/checkpoints")))
        try ckpt.prefix(ckpt.count / 2).write(to: URL(fileURLWithPath: "\(dir)/half.ckpt"))
        let (s3, o3) = try runAttrguard(["export", "--checkpoint", "\(dir)/half.ckpt", "--out", "\(dir)/x.safetensors"])
        #expect(s3 != 0 && o3.contains("half.ckpt") && o3.contains("cut short"), "\(o3)")
    }
}
