import AttrGuardCore

extension Network {
    /// Runs the network on x [B,C,H,W]. In `.training` mode the batch-norm running statistics
    /// in `statistics` are updated (momentum from each layer, PyTorch's rule). With a
    /// `batchNormReducer`, batch norm in the training modes normalises with the statistics of the
    /// global batch, summed across ranks through it (`model.sync_batchnorm`).
    public func callAsFunction(_ x: Variable, _ parameters: BoundParameters, statistics: inout [String: RunningStatistic],
                               mode: ForwardMode, batchNormReducer: (any CrossRankReducer)? = nil) -> Variable {
        require(Array(x.shape.dropFirst()) == inputShape,
                     "network input \(x.shape) does not match its input shape [B] + \(inputShape)")
        return Network.apply(layers, x, prefix: "", parameters, &statistics, mode, Pass(reducer: batchNormReducer))
    }

    /// What one forward pass carries besides the tensors: the cross-rank reducer of synchronized
    /// batch norm, and an observer of each activation layer's input.
    private struct Pass {
        var reducer: (any CrossRankReducer)?
        var record: ((String, Variable) -> Void)?
    }

    /// The inputs of every ReLU and Softplus layer (pre-activations, shaped like the layer's
    /// input) on x [B,C,H,W], by layer name ("4", "6.body.2", "6.activation.0"), in network order:
    /// what decides each unit's activation state. `mode`: `.evaluation` (running statistics) or
    /// `.trainingFrozenStatistics` (the batch's, as the training step sees them); `statistics`
    /// is not changed.
    public func preActivations(_ x: Tensor, _ parameters: BoundParameters, statistics: [String: RunningStatistic],
                               mode: ForwardMode = .evaluation, batchNormReducer: (any CrossRankReducer)? = nil)
        -> [(layer: String, values: Tensor)] {
        var recorded: [(layer: String, values: Tensor)] = []
        var stats = statistics
        _ = Network.apply(layers, Variable(x), prefix: "", parameters, &stats, mode == .training ? .trainingFrozenStatistics : mode,
                          Pass(reducer: batchNormReducer, record: { recorded.append(($0, $1.value)) }))
        return recorded
    }

    /// Fresh running statistics (mean 0, variance 1), as PyTorch initialises them.
    public func initialStatistics(dtype: DType) -> [String: RunningStatistic] {
        Dictionary(uniqueKeysWithValues: batchNormLayers.map {
            ($0.name, RunningStatistic(mean: Tensor(zeros: [$0.features], dtype: dtype),
                                       variance: Tensor(repeating: 1, shape: [$0.features], dtype: dtype)))
        })
    }

    private static func apply(_ layers: [LayerSpec], _ input: Variable, prefix: String, _ p: BoundParameters,
                              _ stats: inout [String: RunningStatistic], _ mode: ForwardMode, _ pass: Pass) -> Variable {
        var x = input, i = 0
        while i < layers.count {
            // Batch norm then softplus runs as one op with batch statistics (see batchNormSoftplus);
            // not when recording, which needs the softplus input.
            if case let .batchnorm2d(_, eps, momentum) = layers[i], i + 1 < layers.count,
               case let .softplus(beta) = layers[i + 1], mode != .evaluation, pass.record == nil {
                x = OpProfiler.inLayer("batchnorm2d+softplus") {
                    batchNorm(x, name: "\(prefix)\(i)", eps: eps, momentum: momentum, softplusBeta: beta, p, &stats, mode, pass.reducer)
                }
                i += 2
                continue
            }
            x = OpProfiler.inLayer(layers[i].typeName) { apply(layers[i], x, name: "\(prefix)\(i)", p, &stats, mode, pass) }
            i += 1
        }
        return x
    }

    private static func apply(_ layer: LayerSpec, _ x: Variable, name: String, _ p: BoundParameters,
                              _ stats: inout [String: RunningStatistic], _ mode: ForwardMode, _ pass: Pass) -> Variable {
        switch layer {
        case .relu, .softplus: pass.record?(name, x)
        default: break
        }
        switch layer {
        case let .conv2d(_, _, _, s, pad, _):
            return conv2d(x, weight: p["\(name).weight"], bias: p.optional("\(name).bias"), stride: s, padding: pad)
        case .linear:
            return linear(x, weight: p["\(name).weight"], bias: p.optional("\(name).bias"))
        case let .batchnorm2d(_, eps, momentum):
            return batchNorm(x, name: name, eps: eps, momentum: momentum, p, &stats, mode, pass.reducer)
        case .relu: return x.relu()
        case .softplus(let beta): return x.softplus(beta: beta)
        case let .maxpool2d(k, s, pad): return maxPool2d(x, PoolGeometry(kernel: k, stride: s, padding: pad))
        case let .avgpool2d(k, s, pad): return avgPool2d(x, PoolGeometry(kernel: k, stride: s, padding: pad))
        case .globalAvgPool: return globalAvgPool(x)
        case .flatten: return x.flattenedBatch()
        case let .residual(body, shortcut, activation):
            let b = apply(body, x, prefix: "\(name).body.", p, &stats, mode, pass)
            let s = apply(shortcut, x, prefix: "\(name).shortcut.", p, &stats, mode, pass)
            let sum = b + s
            return activation.map { apply([$0], sum, prefix: "\(name).activation.", p, &stats, mode, pass) } ?? sum
        }
    }

    /// Batch norm `name` in `mode`, followed by softplus_β when `softplusBeta` is given (fused in
    /// the training modes); with a `reducer`, the training modes use the global batch's statistics.
    private static func batchNorm(_ x: Variable, name: String, eps: Double, momentum: Double, softplusBeta: Double? = nil,
                                  _ p: BoundParameters, _ stats: inout [String: RunningStatistic], _ mode: ForwardMode,
                                  _ reducer: (any CrossRankReducer)?) -> Variable {
        let w = p["\(name).weight"], b = p["\(name).bias"]
        switch mode {
        case .evaluation:
            guard let s = stats[name] else { fatalError("batchnorm \(name): no running statistics") }
            let y = batchNormInference(x, weight: w, bias: b, runningMean: s.mean, runningVariance: s.variance, eps: eps)
            return softplusBeta.map { y.softplus(beta: $0) } ?? y
        case .training, .trainingFrozenStatistics:
            let r: (output: Variable, mean: Tensor, unbiasedVariance: Tensor)
            if let reducer {
                // Statistics of the global batch across ranks (model.sync_batchnorm).
                let s = syncBatchNorm(x, weight: w, bias: b, eps: eps, reducer: reducer)
                r = (softplusBeta.map { s.output.softplus(beta: $0) } ?? s.output, s.mean, s.unbiasedVariance)
            } else {
                r = softplusBeta.map { batchNormSoftplus(x, weight: w, bias: b, eps: eps, beta: $0) }
                    ?? batchNormTraining(x, weight: w, bias: b, eps: eps)
            }
            if case .training = mode, let old = stats[name] {
                // running = (1 − momentum)·running + momentum·batch
                stats[name] = RunningStatistic(
                    mean: binary(.add, unary(.affine(scale: 1 - momentum, shift: 0), old.mean), unary(.affine(scale: momentum, shift: 0), r.mean)),
                    variance: binary(.add, unary(.affine(scale: 1 - momentum, shift: 0), old.variance),
                                     unary(.affine(scale: momentum, shift: 0), r.unbiasedVariance)))
            }
            return r.output
        }
    }
}
