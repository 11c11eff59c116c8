import AttrGuardCore
import AttrGuardNN
import Testing

@Suite struct NetworkTests {
    @Test func resnet18HasTheStandardParameterCountAndNames() throws {
        let net = try Network(layers: Architectures.resnet18(classes: 10, stem: .cifar), inputShape: [3, 32, 32])
        // torchvision-style CIFAR ResNet-18 with a 3×3 stem and 10 classes: 11,173,962 parameters.
        #expect(net.parameterCount == 11_173_962)
        #expect(net.outputShape == [10])
        #expect(net.parameterSpecs.first?.name == "0.weight")
        #expect(net.parameterSpecs.contains { $0.name == "5.shortcut.0.weight" && $0.shape == [128, 64, 1, 1] })
        #expect(net.batchNormLayers.count == 20)
        let imagenet = try Network(layers: Architectures.resnet18(classes: 100, stem: .imagenet), inputShape: [3, 224, 224])
        #expect(imagenet.parameterCount == 11_227_812)
    }

    @Test func smallCNNShapes() throws {
        let net = try Network(layers: Architectures.smallCNN(), inputShape: [3, 32, 32])
        #expect(net.outputShape == [10])
        #expect(net.parameterCount == 3 * 32 * 9 + 32 + 32 * 32 * 9 + 32 + 32 * 64 * 9 + 64 + 64 * 64 * 9 + 64 + 4096 * 256 + 256 + 2570)
    }

    @Test func badLayerListsNameTheLayerAndField() throws {
        let unknown: [Any] = [["type": "conv2d", "in": 3, "out": 4, "kernel": 3], ["type": "gelu"]]
        #expect(throws: NetworkError.self) { try LayerSpec.list(from: unknown) }
        do { _ = try LayerSpec.list(from: unknown) } catch let e as NetworkError {
            #expect(e.layer == "layers[1]" && e.field == "type")
        }
        let wrongIn: [LayerSpec] = [.conv2d(in: 3, out: 4, kernel: 3, stride: 1, padding: 1, bias: true),
                                    .residual(body: [.conv2d(in: 5, out: 4, kernel: 3, stride: 1, padding: 1, bias: false)],
                                              shortcut: [], activation: .relu)]
        do {
            _ = try Network(layers: wrongIn, inputShape: [3, 8, 8])
            Issue.record("a wrong 'in' size was accepted")
        } catch let e as NetworkError {
            #expect(e.layer == "layers[1].body[0]" && e.field == "in")
            #expect(e.description.contains("4 channels"))
        }
        let missingKey: [Any] = [["type": "linear", "out": 3]]
        do { _ = try LayerSpec.list(from: missingKey); Issue.record("missing 'in' accepted") } catch let e as NetworkError {
            #expect(e.layer == "layers[0]" && e.field == "in")
        }
    }

    @Test func missingOrMisshapenParametersAreNamed() throws {
        let net = try Network(layers: [.flatten, .linear(in: 12, out: 2, bias: true)], inputShape: [3, 2, 2])
        let w = Tensor(zeros: [2, 12], dtype: .float64)
        do { _ = try ParameterSet(network: net, values: ["1.weight": w], dtype: .float64, source: "case.json"); Issue.record("missing bias accepted") }
        catch let e as NetworkError { #expect(e.field == "1.bias" && e.layer == "case.json") }
        do {
            _ = try ParameterSet(network: net, values: ["1.weight": Tensor(zeros: [2, 11], dtype: .float64), "1.bias": Tensor(zeros: [2], dtype: .float64)],
                                 dtype: .float64, source: "case.json")
            Issue.record("wrong shape accepted")
        } catch let e as NetworkError { #expect(e.field == "1.weight") }
    }

    @Test func parametersAreViewsIntoOneFlatBuffer() throws {
        let net = try Network(layers: Architectures.smallCNN(classes: 3, inputSize: 8), inputShape: [3, 8, 8])
        var rng = RandomStream(seed: 1)
        let p = ParameterSet(network: net, dtype: .float32, rng: &rng)
        #expect(p.flat.count == net.parameterCount)
        let w = p["0.weight"]
        #expect(w.shape == [32, 3, 3, 3])
        #expect(w.doubles == Array(p.flat.doubles[0..<864]))
        let bound = 1 / (27.0).squareRoot()
        #expect(w.doubles.allSatisfy { abs($0) <= bound })
        #expect(w.doubles.contains { abs($0) > bound / 2 })
    }

    @Test func batchNormRunningStatisticsFollowPyTorch() throws {
        let net = try Network(layers: [.batchnorm2d(features: 2, eps: 1e-5, momentum: 0.1)], inputShape: [2, 1, 2])
        var rng = RandomStream(seed: 2)
        let p = ParameterSet(network: net, dtype: .float64, rng: &rng)
        var stats = net.initialStatistics(dtype: .float64)
        // channel 0 values 1,3,5,7 (mean 4, unbiased var 20/3); channel 1 all 2 (var 0)
        let x = Tensor(shape: [2, 2, 1, 2], values: [1, 3, 2, 2, 5, 7, 2, 2], dtype: .float64)
        let y = net(Variable(x), p.variables(), statistics: &stats, mode: .training)
        #expect(abs(stats["0"]!.mean.doubles[0] - 0.4) < 1e-12)
        #expect(abs(stats["0"]!.variance.doubles[0] - (0.9 + 0.1 * 20.0 / 3)) < 1e-12)
        #expect(abs(stats["0"]!.variance.doubles[1] - 0.9) < 1e-12)
        #expect(abs(y.value.doubles[0] - (1 - 4) / (5.0 + 1e-5).squareRoot()) < 1e-12)
        let e = net(Variable(x), p.variables(), statistics: &stats, mode: .evaluation)
        #expect(abs(e.value.doubles[0] - (1 - 0.4) / (stats["0"]!.variance.doubles[0] + 1e-5).squareRoot()) < 1e-12)
    }
}
