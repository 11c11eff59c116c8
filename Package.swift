// swift-tools-version:6.0
// AttrGuard: training image classifiers with stable feature attributions.
// Layers, one way only: core numerics + autograd -> nn -> data -> distributed -> attribution -> report -> training -> tools -> CLI.
import PackageDescription

#if arch(x86_64)
// AVX2 + FMA (every x86-64 server CPU since 2013): the elementwise kernels vectorise 8 wide.
let cpuFlags = ["-target-cpu", "haswell"]
#else
let cpuFlags: [String] = []
#endif
let optimized: [SwiftSetting] = [.unsafeFlags(cpuFlags, .when(configuration: .release))]
// The kernels' index arithmetic without overflow traps, so their loops vectorise (measured 1.8× on a
// SmallCNN step). Argument checks use `require` (fatalError), which -Ounchecked keeps.
let kernels: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"] + cpuFlags, .when(configuration: .release))]
#if arch(x86_64)
// Our C convolution kernels: AVX2 + FMA intrinsics; -ffast-math lets the Winograd tables' zeros and
// ones fold out of the unrolled transforms (Sources/CWinograd/winograd.c).
let convolutionFlags: [CSetting] = [.unsafeFlags(["-O3", "-mavx2", "-mfma", "-ffast-math"])]
#else
let convolutionFlags: [CSetting] = []
#endif

let package = Package(
    name: "AttrGuard",
    products: [
        .executable(name: "attrguard", targets: ["attrguard"]),
        .library(name: "AttrGuardCore", targets: ["AttrGuardCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        // oneDNN: Debian ships no pkg-config file for it; the module map links "dnnl".
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg",
                       providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CRSVG", pkgConfig: "librsvg-2.0", providers: [.apt(["librsvg2-dev"])]),
        .target(name: "CWinograd", cSettings: convolutionFlags),
        .target(name: "CImageConv", cSettings: convolutionFlags),
        .target(name: "AttrGuardCore", dependencies: ["COpenBLAS", "CDNNL", "CWinograd", "CImageConv"], swiftSettings: kernels),
        .target(name: "AttrGuardNN", dependencies: ["AttrGuardCore"], swiftSettings: optimized),
        .target(name: "AttrGuardData", dependencies: ["AttrGuardCore", "CTurboJPEG", "CZlib"], swiftSettings: optimized),
        .target(name: "AttrGuardDistributed", dependencies: ["CMPI", "AttrGuardCore"], swiftSettings: optimized),
        .target(name: "AttrGuardAttribution", dependencies: ["AttrGuardCore", "AttrGuardNN"], swiftSettings: optimized),
        // What runs leave behind, as data and pictures: the evaluation report's schema, the metrics
        // log, charts and figures (SVG, and PNG through librsvg and libpng), results tables. No
        // numerics of its own.
        .target(name: "AttrGuardReport", dependencies: ["CRSVG", "CPNG", "AttrGuardData", "AttrGuardAttribution"], swiftSettings: optimized),
        .target(name: "AttrGuardTraining",
                dependencies: ["CPNG", "AttrGuardCore", "AttrGuardNN", "AttrGuardData", "AttrGuardDistributed",
                               "AttrGuardAttribution", "AttrGuardReport", .product(name: "Yams", package: "Yams")],
                swiftSettings: optimized),
        // Checks and benchmarks beside the library (golden cases, step/micro/all-reduce/loader
        // benchmarks, the objectives' smoke run, all-reduce and synchronized-batch-norm checks):
        // the CLI runs them; training never does.
        .target(name: "AttrGuardTools",
                dependencies: ["COpenBLAS", "AttrGuardCore", "AttrGuardNN", "AttrGuardData", "AttrGuardDistributed", "AttrGuardAttribution",
                               "AttrGuardTraining"],
                swiftSettings: optimized),
        .executableTarget(name: "attrguard",
                          dependencies: ["AttrGuardTraining", "AttrGuardTools", "AttrGuardAttribution", "AttrGuardCore", "AttrGuardData", "AttrGuardDistributed",
                                         "AttrGuardNN", "AttrGuardReport",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: optimized),
        .target(name: "AttrGuardTestSupport", path: "Tests/AttrGuardTestSupport"),
        .testTarget(name: "AttrGuardCoreTests", dependencies: ["AttrGuardCore"]),
        .testTarget(name: "AttrGuardNNTests", dependencies: ["AttrGuardNN", "AttrGuardAttribution"]),
        .testTarget(name: "AttrGuardDataTests", dependencies: ["AttrGuardData", "AttrGuardTestSupport"]),
        .testTarget(name: "AttrGuardDistributedTests", dependencies: ["AttrGuardDistributed", "AttrGuardTestSupport"]),
        .testTarget(name: "AttrGuardReportTests", dependencies: ["AttrGuardReport"]),
        .testTarget(name: "AttrGuardAttributionTests", dependencies: ["AttrGuardAttribution", "AttrGuardNN", "AttrGuardCore"],
                    exclude: ["sampling_reference.py", "sampling-reference.json"]),
        .testTarget(name: "AttrGuardTrainingTests",
                    dependencies: ["AttrGuardTraining", "AttrGuardTools", "AttrGuardData", "AttrGuardAttribution", "AttrGuardTestSupport"]),
    ]
)
