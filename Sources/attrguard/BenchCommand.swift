import AttrGuardCore
import AttrGuardData
import AttrGuardDistributed
import AttrGuardTools
import AttrGuardTraining
import ArgumentParser
import Foundation

/// `attrguard bench micro`: kernel baselines (sgemm, conv2d) for later performance work.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (not tests): kernel baselines and training-step timings comparable with ../shared/anchors.",
        subcommands: [MicroBench.self, ConvBench.self, StepBench.self, ObjectivesBench.self, AllreduceBench.self, ISABench.self], defaultSubcommand: MicroBench.self)
}

/// `attrguard bench step`: one training step, as the PyTorch anchor times it; prints a JSON line.
struct StepBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "Time a training step (smallcnn|resnet18 × plain|l2cos|igr); JSON line with step_ms, img_per_s, peak_rss_mib.")

    @Option(help: "smallcnn or resnet18.") var model: StepBenchmark.Model = .smallcnn
    @Option(help: "plain, l2cos or igr.") var method: StepBenchmark.Method = .l2cos
    @Option(help: "Batch size.") var batch = 64
    @Option(help: "Timed steps after 2 warm-up steps.") var iters = 4
    @Flag(help: "Print time, calls, GFLOP/s and bytes allocated per primitive and per layer kind before the JSON line.")
    var profile = false

    func validate() throws {
        try requireOption("--batch", batch, in: 1...100_000)
        try requireOption("--iters", iters, in: 1...100_000)
    }

    func run() throws {
        var b = StepBenchmark()
        b.model = model; b.method = method; b.batch = batch; b.iterations = iters
        let profiler = profile ? OpProfiler() : nil
        let r = try b.run(profiler: profiler)
        if let profiler {
            print(profileTables(profiler, iterations: iters, stepMilliseconds: r.stepMilliseconds))
            print()
        }
        let threads = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] ?? "default"
        // JSON through the serializer: a missing reading is null, never a bare nan.
        let record: [String: Any] = ["device": "cpu", "model": model.rawValue, "method": method.rawValue, "batch": batch, "blas_threads": threads,
                                     "isa": KernelISA.summary,
                                     "step_ms": (r.stepMilliseconds * 100).rounded() / 100, "img_per_s": (r.imagesPerSecond * 10).rounded() / 10,
                                     "peak_rss_mib": r.peakRSSMiB.isFinite ? r.peakRSSMiB.rounded() : NSNull()]
        print(String(decoding: try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]), as: UTF8.self))
    }
}

/// `attrguard bench objectives`: each objective for N steps on a fixed random batch.
struct ObjectivesBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "objectives",
        abstract: "Train each objective (standard, gradnorm, l2cos, igr, pgd) on one fixed random batch; print every step's terms.")

    @Option(help: "smallcnn or resnet18.") var model: StepBenchmark.Model = .smallcnn
    @Option(help: "Batch size.") var batch = 32
    @Option(help: "Steps per objective.") var steps = 20
    @Option(help: "Learning rate.") var lr = 0.01
    @Option(help: "Objectives to run, comma-separated (default: all).") var objectives: String?

    func validate() throws {
        try requireOption("--batch", batch, in: 1...100_000)
        try requireOption("--steps", steps, in: 1...1_000_000)
        _ = try names()
    }

    /// `--objectives`, each one the smoke run knows; nil: all.
    func names() throws -> [String]? {
        let known = ObjectiveSmokeRun.objectives.map(\.name)
        return try objectives.map { text in
            try commaList("--objectives", text, { known.contains($0) ? $0 : nil }) { "unknown objective '\($0)' (one of \(known.joined(separator: ", ")))" }
        }
    }

    func run() throws {
        var r = ObjectiveSmokeRun()
        r.model = model; r.batch = batch; r.steps = steps; r.learningRate = lr
        var failed = false
        for name in try names() ?? ObjectiveSmokeRun.objectives.map(\.name) {
            let clock = ContinuousClock(), start = clock.now
            let totals = try r.run(name) { step, terms in
                let parts = terms.keys.sorted().map { "\($0)=\(String(format: "%.5f", terms[$0]!))" }
                print("\(model) \(name) step \(step + 1): " + parts.joined(separator: " "))
                FileHandle.standardOutput.synchronizeFile()
            }
            let finite = totals.allSatisfy(\.isFinite), fell = totals.last! < totals.first!
            failed = failed || !finite || !fell
            print(String(format: "%@ %@: total %.5f -> %.5f over %d steps, %@, %.1f s/step", model.rawValue, name, totals.first!, totals.last!,
                         steps, finite && fell ? "finite and falling" : "NOT finite and falling",
                         (clock.now - start).seconds / Double(steps)))
        }
        if failed { throw ExitCode.failure }
    }
}

struct MicroBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "micro",
        abstract: "sgemm through the wrapper vs cblas_sgemm directly.")

    @Option(help: "Matrix size for sgemm.") var gemmSize = 1024
    @Option(help: "Timed repeats (best is reported).") var repeats = 5

    func validate() throws {
        try requireOption("--gemm-size", gemmSize, in: 1...16_384)
        try requireOption("--repeats", repeats, in: 1...10_000)
    }

    func run() throws {
        let env = ProcessInfo.processInfo.environment
        print("OPENBLAS_CORETYPE=\(env["OPENBLAS_CORETYPE"] ?? "(unset)") OPENBLAS_NUM_THREADS=\(env["OPENBLAS_NUM_THREADS"] ?? "(unset)")")
        let g = MicroBenchmarks.sgemm(n: gemmSize, repeats: repeats)
        print(String(format: "sgemm %d×%d: wrapper %.1f GFLOP/s, direct cblas_sgemm %.1f GFLOP/s (ratio %.3f)",
                     gemmSize, gemmSize, g.wrapper, g.direct, g.wrapper / g.direct))
    }
}

/// `attrguard bench conv`: the three convolution kernels on every ResNet-18 / SmallCNN layer shape,
/// on each path (oneDNN's fastest algorithm, oneDNN direct only, the im2col reference); one JSON
/// line per shape and path.
struct ConvBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "Convolution forward, input-gradient and weight-gradient kernels per layer shape (ms, GFLOP/s) on each path.")

    @Option(help: "Timed repeats (best is reported).") var repeats = 5
    @Option(help: "Paths to time: fastest (the default path), winograd (ours), onednn (oneDNN's Winograd where faster), direct (oneDNN direct only), gemm (grouped im2col GEMMs), im2col, or all.")
    var path: PathChoice = .all

    /// `--path`: one convolution path, or every one.
    enum PathChoice: ExpressibleByArgument {
        case all, one(ConvolutionPath)

        init?(argument: String) {
            if argument == "all" { self = .all } else if let p = ConvolutionPath(rawValue: argument) { self = .one(p) } else { return nil }
        }

        var paths: [ConvolutionPath] {
            switch self {
            case .all: return ConvolutionPath.allCases
            case .one(let p): return [p]
            }
        }
    }
    @Flag(help: "Print the shapes as one JSON array and exit (input of launch/conv_bench_torch.py).") var shapes = false

    func validate() throws {
        try requireOption("--repeats", repeats, in: 1...10_000)
    }

    func run() throws {
        if shapes {
            let data = try JSONSerialization.data(withJSONObject: MicroBenchmarks.convShapes.map(\.json), options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        let paths = path.paths
        for shape in MicroBenchmarks.convShapes {
            for p in paths {
                let t = MicroBenchmarks.conv(shape, path: p, repeats: repeats)
                func gflops(_ ms: Double) -> Double { (shape.flops / (ms * 1e-3) / 1e9 * 10).rounded() / 10 }
                var record = shape.json
                record["path"] = p.rawValue
                record["isa"] = CPUISA.current.rawValue
                record["forward_ms"] = (t.forward * 100).rounded() / 100
                record["input_grad_ms"] = (t.inputGrad * 100).rounded() / 100
                record["weight_grad_ms"] = (t.weightGrad * 100).rounded() / 100
                record["gflops"] = [gflops(t.forward), gflops(t.inputGrad), gflops(t.weightGrad)]
                record["implementation"] = convolutionImplementations(shape.geometry, batch: shape.batch,
                                                                      outChannels: shape.outChannels, path: p)
                print(String(decoding: try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]), as: UTF8.self))
                FileHandle.standardOutput.synchronizeFile()
            }
        }
    }
}

/// `attrguard bench isa`: the instruction sets each library runs here, one line.
struct ISABench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "isa",
        abstract: "Print the ISA our kernels assume (ATTRGUARD_MAX_ISA caps it), oneDNN's and OpenBLAS's kernel family.")

    func run() throws { print(KernelISA.line) }
}

/// `attrguard bench allreduce` (under mpirun): all-reduce latency and bandwidth per message size
/// for the ranks it is launched with, and the fitted α–β model, as JSON.
struct AllreduceBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "All-reduce time, algorithm and bus bandwidth per size (4 KiB…64 MiB, Float32) on the launched ranks, and an α–β fit.")

    @Option(help: "Timed repeats per size (the median is reported).") var repeats = 20
    @Option(help: "Largest message, MiB (sizes are 4 KiB ×4 up to it).") var maxMib = 64
    @Option(help: "Also write the points and the fit as one JSON object to this file.") var out: String?

    func validate() throws {
        try requireOption("--repeats", repeats, in: 1...100_000)
        try requireOption("--max-mib", maxMib, in: 1...4_096)
    }

    func run() throws {
        let comm = Communicator.world
        let sizes = stride(from: 12, through: 20 + Int(log2(Double(maxMib))), by: 2).map { 1 << $0 }
        let points = try AllreduceBenchmark.measure(comm, sizes: sizes, repeats: repeats)
        let fit = AllreduceBenchmark.fit(points)
        if comm.rank == 0 {
            var rows: [[String: Any]] = []
            for p in points {
                // One rank moves nothing: its bandwidths are not numbers worth printing.
                let row: [String: Any] = ["ranks": p.ranks, "bytes": p.bytes, "time_us": (p.seconds * 1e7).rounded() / 10,
                                          "algbw_gbs": p.ranks > 1 ? (p.algorithmBandwidth / 1e7).rounded() / 100 : NSNull(),
                                          "busbw_gbs": p.ranks > 1 ? (p.busBandwidth / 1e7).rounded() / 100 : NSNull()]
                rows.append(row)
                print(String(decoding: try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys]), as: UTF8.self))
            }
            var model: [String: Any] = ["ranks": comm.size, "alpha_us": (fit.alpha * 1e7).rounded() / 10,
                                        "beta_ns_per_byte": (fit.beta * 1e12).rounded() / 1000,
                                        "bandwidth_gbs": fit.beta > 0 ? (1 / fit.beta / 1e7).rounded() / 100 : NSNull()]
            if comm.size == 1 { model["note"] = "one rank: the all-reduce is a no-op, so α = β = 0 and bandwidth is unbounded" }
            print(String(decoding: try JSONSerialization.data(withJSONObject: ["fit": model], options: [.sortedKeys]), as: UTF8.self))
            if let out {
                try writeAtomically(try JSONSerialization.data(withJSONObject: ["points": rows, "fit": model], options: [.sortedKeys, .prettyPrinted]), to: out)
            }
        }
        comm.finalize()
    }
}
