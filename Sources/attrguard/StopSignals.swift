import Foundation
import Synchronization

/// Requests to stop a run early: SIGTERM (SLURM at preemption and at the time limit, mpirun
/// passing on its own), SIGINT (Ctrl-C) and SIGUSR1 (`sbatch --signal`, forwarded by mpirun).
/// While the trainer's step loop runs (`deferring(true)`) the request is deferred: the trainer
/// finishes its current step, rank 0 writes a checkpoint, and every rank exits with `exitCode`.
/// Outside the loop (parsing, loading, resuming) there is no step to finish and no poll would see
/// it, so the signal ends the process at once with 128 + the signal. A second signal ends it at
/// once too, unless it comes within `duplicateWindow` of the first: a job manager that signals
/// every process while mpirun also forwards the signal delivers it twice.
enum StopSignals {
    /// EX_TEMPFAIL: stopped on request with a checkpoint to continue from.
    static let exitCode: Int32 = 75
    static let duplicateWindow: Int64 = 2_000_000_000   // ns

    /// The first signal received (0: none) and when (CLOCK_MONOTONIC ns). Process-wide by nature:
    /// a signal handler reaches nothing else, and atomics are what it may touch.
    private static let received = Atomic<Int32>(0)
    private static let receivedAt = Atomic<Int64>(0)
    /// Whether a step loop will poll `pending` (else a signal ends the process at once).
    private static let polled = Atomic<Bool>(false)

    /// Called by the trainer as its step loop starts (true) and ends (false: the loop has
    /// finished, or acted on a request, so what is left ends quickly by itself).
    static func deferring(_ on: Bool) { polled.store(on, ordering: .sequentiallyConsistent) }

    static func install() {
        // A parent may hand down a mask that blocks them (threads of test runners do).
        var mask = sigset_t()
        sigemptyset(&mask)
        for s in [SIGTERM, SIGINT, SIGUSR1] { sigaddset(&mask, s) }
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)
        for s in [SIGTERM, SIGINT, SIGUSR1] {
            signal(s) { sig in
                var now = timespec()
                clock_gettime(CLOCK_MONOTONIC, &now)
                let ns = Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
                if !StopSignals.polled.load(ordering: .sequentiallyConsistent) {
                    _exit(128 + sig)
                } else if StopSignals.received.compareExchange(expected: 0, desired: sig, ordering: .sequentiallyConsistent).exchanged {
                    StopSignals.receivedAt.store(ns, ordering: .sequentiallyConsistent)
                } else if ns - StopSignals.receivedAt.load(ordering: .sequentiallyConsistent) > StopSignals.duplicateWindow {
                    _exit(128 + sig)
                }
            }
        }
    }

    /// The signal that asked the run to stop, 0 if none has.
    static var pending: Int32 { received.load(ordering: .sequentiallyConsistent) }

    static func name(_ sig: Int32) -> String {
        switch sig {
        case SIGTERM: return "SIGTERM"
        case SIGINT: return "SIGINT"
        case SIGUSR1: return "SIGUSR1"
        default: return "signal \(sig)"
        }
    }
}
