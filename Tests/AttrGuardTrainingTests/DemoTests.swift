import AttrGuardData
import AttrGuardDistributed
import AttrGuardTraining
import Testing

@Suite struct DemoTests {
    @Test func demoTrainingLowersTheLoss() throws {
        var demo = DemoRun()
        demo.steps = 20
        demo.globalBatch = 32
        var totals: [Double] = []
        let last = try demo.run(communicator: Communicator.world) { _, terms in totals.append(terms["total"]!) }
        let head = totals.prefix(5).reduce(0, +) / 5, tail = totals.suffix(5).reduce(0, +) / 5
        print("demo: mean total of first 5 steps \(head), of last 5 \(tail)")
        #expect(tail < 0.5 * head)
        #expect(last["heldout_accuracy"]! > 0.6)
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
