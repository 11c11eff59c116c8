import AttrGuardData

/// Images/s of the training loader (crop + flip augmentation, uint8 → float, normalisation) on
/// one thread, over `batches` batches of the plan's global order.
public enum LoaderBenchmark {
    /// Images per second, and a checksum of what was loaded.
    public static func run(store: ImageStore, batch: Int, batches: Int) throws -> (imagesPerSecond: Double, checksum: Double) {
        let loader = BatchLoader(store: store, augmentation: .cropFlip(padding: 4), normalization: (CIFAR10.mean, CIFAR10.std))
        let plan = EpochPlan(count: store.count, globalBatch: batch, seed: 0, epoch: 0)
        var checksum = 0.0   // keeps the work observable
        let clock = ContinuousClock(), start = clock.now
        for k in 0..<batches {
            let (x, _) = try loader.batch(Array(plan.globalIndices(step: k % plan.steps)), epoch: k / plan.steps)
            checksum += Double(x.pointer(Float.self)[0])
        }
        let elapsed = clock.now - start
        let seconds = elapsed.seconds
        return (Double(batches * batch) / seconds, checksum)
    }
}
