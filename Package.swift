// swift-tools-version:6.0
// AttrGuard: training image classifiers with stable feature attributions.
// Layers, one way only: core numerics + autograd -> nn -> distributed -> attribution -> training -> CLI.
import PackageDescription

let optimized: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

let package = Package(
    name: "AttrGuard",
    products: [
        .executable(name: "attrguard", targets: ["attrguard"]),
        .library(name: "AttrGuardCore", targets: ["AttrGuardCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .target(name: "AttrGuardCore", dependencies: ["COpenBLAS"], swiftSettings: optimized),
        .target(name: "AttrGuardNN", dependencies: ["AttrGuardCore"], swiftSettings: optimized),
        .target(name: "AttrGuardDistributed", dependencies: ["CMPI", "AttrGuardCore"], swiftSettings: optimized),
        .target(name: "AttrGuardAttribution", dependencies: ["AttrGuardCore", "AttrGuardNN"], swiftSettings: optimized),
        .target(name: "AttrGuardTraining",
                dependencies: ["COpenBLAS", "AttrGuardCore", "AttrGuardNN", "AttrGuardDistributed", "AttrGuardAttribution"],
                swiftSettings: optimized),
        .executableTarget(name: "attrguard",
                          dependencies: ["AttrGuardTraining",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: optimized),
        .testTarget(name: "AttrGuardCoreTests", dependencies: ["AttrGuardCore"]),
        .testTarget(name: "AttrGuardNNTests", dependencies: ["AttrGuardNN", "AttrGuardAttribution"]),
        .testTarget(name: "AttrGuardDistributedTests", dependencies: ["AttrGuardDistributed"]),
        .testTarget(name: "AttrGuardTrainingTests", dependencies: ["AttrGuardTraining"]),
    ]
)
