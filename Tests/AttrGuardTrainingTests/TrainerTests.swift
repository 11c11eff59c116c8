import AttrGuardData
import AttrGuardDistributed
import AttrGuardTestSupport
import AttrGuardTraining
import Foundation
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
        trainer.progress = { _ in }
        trainer.onLog = { record in totals.append(record.values["total"]!) }
        let summary = try trainer.run(resume: false)
        print("trainer: totals \(totals), test accuracy \(summary.testAccuracy!)")
        #expect(summary.steps == 40)
        #expect(totals.count == 4 && totals.last! < 0.6 * totals.first!)
        #expect(summary.testAccuracy! > 0.5)   // chance is 0.1
    }

    /// `log.activation_agreement: true` logs each Softplus layer's agreement between x and the
    /// regularizer's x′ (a share in (0, 1], below 1 somewhere) and leaves the training itself alone:
    /// the loss terms are the same bits as without it.
    @Test func activationAgreementIsLoggedWithoutChangingTheRun() throws {
        let dir = try temporaryDirectory()
        func run(_ log: Bool) throws -> [[String: Any]] {
            let yaml = """
            model:
              name: layers
              layers:
                - {type: conv2d, in: 3, out: 8, kernel: 3, stride: 1, padding: 1, bias: false}
                - {type: batchnorm2d, features: 8}
                - {type: softplus, beta: 10}
                - {type: maxpool2d, kernel: 2}
                - {type: conv2d, in: 8, out: 8, kernel: 3, stride: 2, padding: 1, bias: false}
                - {type: relu}
                - {type: global_avgpool}
                - {type: flatten}
                - {type: linear, in: 8, out: 10}
            data: {dataset: synthetic, train_per_class: 10, test_per_class: 2}
            method: {name: l2cos, lambda_l2: 1.0, lambda_cos: 1.0}
            optim: {lr: 0.05}
            train: {epochs: 10, max_steps: 4, global_batch: 16, log_every: 2}
            log: {metrics: \(dir)/m-\(log).jsonl, activation_agreement: \(log)}
            """
            var trainer = Trainer(config: try TrainingConfig.parse(yaml: yaml, file: "inline.yaml"), communicator: Communicator.world)
            trainer.progress = { _ in }
            _ = try trainer.run(resume: false)
            return try String(contentsOfFile: "\(dir)/m-\(log).jsonl", encoding: .utf8).split(separator: "\n")
                .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }.filter { $0["total"] != nil }
        }
        let with = try run(true), without = try run(false)
        #expect(with.count == 2 && without.count == 2)
        for (a, b) in zip(with, without) {
            #expect(a["total"] as? Double == b["total"] as? Double && a["grad_norm"] as? Double == b["grad_norm"] as? Double)
            #expect(b.keys.allSatisfy { !$0.hasPrefix("activation_agreement") })
            let shares = ["activation_agreement_2", "activation_agreement_5"].map { a[$0] as? Double }
            #expect(shares.allSatisfy { $0 != nil && $0! > 0 && $0! <= 1 }, "\(a)")
        }
        #expect(with.flatMap { r in ["activation_agreement_2", "activation_agreement_5"].map { r[$0] as! Double } }.contains { $0 < 1 })
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
