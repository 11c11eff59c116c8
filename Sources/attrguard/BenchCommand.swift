import AttrGuardTraining
import ArgumentParser
import Foundation

/// `attrguard bench micro`: kernel baselines (sgemm, conv2d) for later performance work.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Micro-benchmarks: sgemm through the wrapper vs cblas, conv2d forward/backward for a ResNet-18 layer.")

    @Option(help: "Matrix size for sgemm.") var gemmSize = 1024
    @Option(help: "Timed repeats (best is reported).") var repeats = 5

    func run() throws {
        let env = ProcessInfo.processInfo.environment
        print("OPENBLAS_CORETYPE=\(env["OPENBLAS_CORETYPE"] ?? "(unset)") OPENBLAS_NUM_THREADS=\(env["OPENBLAS_NUM_THREADS"] ?? "(unset)")")
        let g = MicroBenchmarks.sgemm(n: gemmSize, repeats: repeats)
        print(String(format: "sgemm %d×%d: wrapper %.1f GFLOP/s, direct cblas_sgemm %.1f GFLOP/s (ratio %.3f)",
                     gemmSize, gemmSize, g.wrapper, g.direct, g.wrapper / g.direct))
        let c = MicroBenchmarks.conv(batch: 32, channels: 64, outChannels: 64, size: 32, kernel: 3, repeats: repeats)
        print(String(format: "conv2d 64→64 3×3 32×32 batch 32 (float32): forward %.1f ms (%.1f GFLOP/s), input grad %.1f ms, weight grad %.1f ms",
                     c.forward, c.gflopsForward, c.inputGrad, c.weightGrad))
    }
}
