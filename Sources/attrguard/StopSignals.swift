import Foundation
import Synchronization

/// Requests to stop a run early: SIGTERM (SLURM at preemption and at the time limit, mpirun
/// passing on its own), SIGINT (Ctrl-C) and SIGUSR1 (`sbatch --signal`, forwarded by mpirun).
/// The trainer finishes its current step, rank 0 writes a checkpoint, and every rank exits with
/// `exitCode`. A second signal ends the process at once, unless it comes within `duplicateWindow`
/// of the first: a job manager that signals every process while mpirun also forwards the signal
/// delivers it twice.
enum StopSignals {
    /// EX_TEMPFAIL: stopped on request with a checkpoint to continue from.
    static let exitCode: Int32 = 75
    static let duplicateWindow: Int64 = 2_000_000_000   // ns

    /// The first signal received (0: none) and when (CLOCK_MONOTONIC ns). Process-wide by nature:
    /// a signal handler reaches nothing else, and atomics are what it may touch.
    private static let received = Atomic<Int32>(0)
    private static let receivedAt = Atomic<Int64>(0)

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
                if StopSignals.received.compareExchange(expected: 0, desired: sig, ordering: .sequentiallyConsistent).exchanged {
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
