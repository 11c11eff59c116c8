import AttrGuardData
import AttrGuardDistributed
import AttrGuardTraining
import Testing

@Suite struct TrainerTests {
    /// The quickstart's network and method, shortened: the loss falls and the test accuracy is far above chance.
    @Test func shortQuickstartRunLearns() throws {
        let yaml = """
        model:
          name: layers
          layers:
            - {type: conv2d, in: 3, out: 16, kernel: 3, stride: 1, padding: 1, bias: false}
            - {type: batchnorm2d, features: 16}
            - {type: softplus, beta: 10}
            - {type: maxpool2d, kernel: 2}
            - {type: conv2d, in: 16, out: 32, kernel: 3, stride: 2, padding: 1, bias: false}
            - {type: batchnorm2d, features: 32}
            - {type: softplus, beta: 10}
            - {type: global_avgpool}
            - {type: flatten}
            - {type: linear, in: 32, out: 10}
        data: {dataset: synthetic, train_per_class: 100, test_per_class: 30}
        method: {name: l2cos, lambda_l2: 1.0, lambda_cos: 1.0}
        optim: {lr: 0.05}
        schedule: {kind: cosine, unit: steps, warmup: 3}
        train: {epochs: 100, max_steps: 40, global_batch: 32}
        """
        let config = try TrainingConfig.parse(yaml: yaml, file: "inline.yaml")
        var totals: [Double] = []
        var trainer = Trainer(config: config, communicator: Communicator.world)
        trainer.progress = { line in
            if let t = line.range(of: "total=") { totals.append(Double(line[t.upperBound...].prefix { $0 != " " })!) }
        }
        let summary = try trainer.run(resume: false)
        print("trainer: totals \(totals), test accuracy \(summary.testAccuracy!)")
        #expect(summary.steps == 40)
        #expect(totals.count == 4 && totals.last! < 0.6 * totals.first!)
        #expect(summary.testAccuracy! > 0.5)   // chance is 0.1
    }

    @Test func syntheticImagesAreDeterministicAndInRange() {
        let a = SyntheticImages.generate(count: 20, classes: 4, size: 8, seed: 3)
        let b = SyntheticImages.generate(count: 20, classes: 4, size: 8, seed: 3)
        #expect(a.images.doubles == b.images.doubles && a.labels == b.labels)
        #expect(a.images.doubles.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(Set(a.labels) == [0, 1, 2, 3])
        let c = SyntheticImages.generate(count: 20, classes: 4, size: 8, seed: 4)
        #expect(c.images.doubles != a.images.doubles)
    }
}
