import AttrGuardData

/// The train and test splits a config names (generated, CIFAR-10 binaries or packed files), with
/// `data.train_subset` applied and the image shape checked against the model's input.
public func loadDatasets(_ config: TrainingConfig) throws -> (train: ImageStore, test: ImageStore) {
    var stores: (ImageStore, ImageStore)
    switch config.dataset {
    case .synthetic:
        stores = (SyntheticDataset.store(count: config.syntheticTrainPerClass * 10, seed: config.seed),
                  SyntheticDataset.store(count: config.syntheticTestPerClass * 10, seed: config.seed &+ 0x7E57))
    case .cifar10:
        stores = (try CIFAR10.load(directory: config.dataPath, split: .train), try CIFAR10.load(directory: config.dataPath, split: .test))
    case .packed:
        stores = (try PackedDataset.open(config.dataPath), try PackedDataset.open(config.testPath))
    }
    if config.trainSubset > 0 {
        guard config.trainSubset <= stores.0.count else {
            throw ConfigError(file: config.dataPath, key: "data.train_subset", message: "\(config.trainSubset) is more than the \(stores.0.count) training images")
        }
        stores.0 = try stores.0.subset(Array(0..<config.trainSubset))
    }
    for (name, s) in [("data.path", stores.0), ("data.test_path", stores.1)] where s.imageShape != config.inputShape {
        throw ConfigError(file: config.dataPath, key: name, message: "images are \(s.imageShape), the model expects \(config.inputShape) (data.image_size)")
    }
    return stores
}
