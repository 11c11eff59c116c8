/// The papers' networks as layer lists.

/// The nonlinearity of a named architecture (Softplus β keeps curvature for double backprop).
public enum Activation: Sendable, Equatable {
    case relu
    case softplus(beta: Double)

    public var layer: LayerSpec {
        switch self {
        case .relu: return .relu
        case .softplus(let beta): return .softplus(beta: beta)
        }
    }
}

/// ResNet-18's first layers: CIFAR's 3×3 conv, or ImageNet's 7×7/2 conv and max pool.
public enum ResNetStem: String, Sendable {
    /// 3×3 conv, stride 1, no max-pool (32×32 inputs).
    case cifar
    /// 7×7 conv, stride 2, then 3×3 max-pool, stride 2 (ImageNet-size inputs).
    case imagenet
}

/// The named architectures as layer lists.
public enum Architectures {
    /// 4 conv + 2 fc for 32×32 CIFAR-10 inputs (the attribution-robustness papers' small net).
    /// [B,3,32,32] -> 32,32 -> pool -> 64,64 -> pool -> [B,64·8·8] -> 256 -> classes.
    public static func smallCNN(classes: Int = 10, activation: Activation = .softplus(beta: 10),
                                inputSize: Int = 32, channels: Int = 3) -> [LayerSpec] {
        let a = activation.layer, side = inputSize / 4
        return [.conv2d(in: channels, out: 32, kernel: 3, stride: 1, padding: 1, bias: true), a,
                .conv2d(in: 32, out: 32, kernel: 3, stride: 1, padding: 1, bias: true), a,
                .maxpool2d(kernel: 2, stride: 2, padding: 0),
                .conv2d(in: 32, out: 64, kernel: 3, stride: 1, padding: 1, bias: true), a,
                .conv2d(in: 64, out: 64, kernel: 3, stride: 1, padding: 1, bias: true), a,
                .maxpool2d(kernel: 2, stride: 2, padding: 0),
                .flatten,
                .linear(in: 64 * side * side, out: 256, bias: true), a,
                .linear(in: 256, out: classes, bias: true)]
    }

    /// ResNet-18 (basic blocks, [2,2,2,2], widths 64–512) with the chosen stem.
    public static func resnet18(classes: Int = 10, stem: ResNetStem = .cifar,
                                activation: Activation = .softplus(beta: 10), channels: Int = 3) -> [LayerSpec] {
        let a = activation.layer
        func bn(_ c: Int) -> LayerSpec { .batchnorm2d(features: c, eps: 1e-5, momentum: 0.1) }
        var layers: [LayerSpec]
        switch stem {
        case .cifar: layers = [.conv2d(in: channels, out: 64, kernel: 3, stride: 1, padding: 1, bias: false), bn(64), a]
        case .imagenet:
            layers = [.conv2d(in: channels, out: 64, kernel: 7, stride: 2, padding: 3, bias: false), bn(64), a,
                      .maxpool2d(kernel: 3, stride: 2, padding: 1)]
        }
        var cin = 64
        for (cout, s) in [(64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1)] {
            let body: [LayerSpec] = [.conv2d(in: cin, out: cout, kernel: 3, stride: s, padding: 1, bias: false), bn(cout), a,
                                     .conv2d(in: cout, out: cout, kernel: 3, stride: 1, padding: 1, bias: false), bn(cout)]
            let shortcut: [LayerSpec] = (s == 1 && cin == cout) ? []
                : [.conv2d(in: cin, out: cout, kernel: 1, stride: s, padding: 0, bias: false), bn(cout)]
            layers.append(.residual(body: body, shortcut: shortcut, activation: a))
            cin = cout
        }
        return layers + [.globalAvgPool, .flatten, .linear(in: 512, out: classes, bias: true)]
    }
}
