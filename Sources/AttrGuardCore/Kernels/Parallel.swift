import COpenBLAS
import Dispatch
import Foundation

/// Threads per rank. OpenBLAS and oneDNN's OpenMP run their own pools (`configureLibraries`); our
/// own kernels (elementwise maps, the fused batch-norm and softplus kernels, the optimizers) split
/// their loops over `count` threads while it is bound — the trainer binds `train.threads` for a
/// run, so the same binary serves many ranks of one thread and few ranks of many. With several
/// threads, OMP_WAIT_POLICY=PASSIVE (the launch scripts set it) keeps OpenMP's idle workers from
/// spinning on the cores these threads need.
public enum KernelThreads {
    /// Threads our kernels split a loop over; 1: serial (the default, and every test's).
    @TaskLocal public static var count = 1

    /// OMP_NUM_THREADS, else OPENBLAS_NUM_THREADS, else 1: what the launch scripts export.
    public static var fromEnvironment: Int {
        let env = ProcessInfo.processInfo.environment
        return max(1, Int(env["OMP_NUM_THREADS"] ?? env["OPENBLAS_NUM_THREADS"] ?? "") ?? 1)
    }

    /// Sets OpenBLAS and OpenMP (oneDNN) to `threads` threads in this process, after oneDNN's own
    /// start-up choice (`OneDNN.engine`) so that this one stands.
    public static func configureLibraries(_ threads: Int) {
        require(threads >= 1, "threads: \(threads) must be at least 1")
        _ = OneDNN.engine
        openblas_set_num_threads(Int32(threads))
        setOpenMPThreads(Int32(threads))
    }

    /// omp_set_num_threads: libgomp is loaded with libdnnl; its setter is looked up rather than
    /// linked (Debian ships no dev symlink for it).
    static func setOpenMPThreads(_ threads: Int32) {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "omp_set_num_threads") else { return }
        unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Void).self)(threads)
    }
}

/// Calls `body` on contiguous pieces of 0..<n, at most `KernelThreads.count` of them at once and
/// none smaller than `grain` items; one call (this thread) when that leaves a single piece. The
/// pieces must touch disjoint outputs.
@inline(__always)
public func forEachPiece(_ n: Int, grain: Int, _ body: (Range<Int>) -> Void) {
    let pieces = min(KernelThreads.count, n / max(grain, 1))
    guard pieces > 1 else { body(0..<n); return }
    withoutActuallyEscaping(body) { body in
        // The pieces write disjoint parts of buffers the caller owns, and concurrentPerform returns
        // only when every piece has run.
        let work = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: pieces) { k in work.value((k * n / pieces)..<((k + 1) * n / pieces)) }
    }
}

private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Elements per piece of an elementwise loop: below this a thread's start-up costs more than it saves.
public let elementwiseGrain = 1 << 15
