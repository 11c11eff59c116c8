import AttrGuardData
import AttrGuardDistributed
import AttrGuardTraining
import Testing

@Suite struct DemoTests {
    @Test func demoTrainingLowersTheLoss() throws {
        var demo = DemoRun()
        demo.steps = 30
        demo.globalBatch = 32
        demo.trainPerClass = 100
        var totals: [Double] = []
        let last = try demo.run(communicator: Communicator.world) { _, terms in totals.append(terms["total"]!) }
        let head = totals.prefix(5).reduce(0, +) / 5, tail = totals.suffix(5).reduce(0, +) / 5
        print("demo: mean total of first 5 steps \(head), of last 5 \(tail)")
        #expect(tail < 0.5 * head)
        print("demo: test accuracy \(last["test_accuracy"]!)")
        #expect(last["test_accuracy"]! > 0.5)   // chance is 0.1
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
