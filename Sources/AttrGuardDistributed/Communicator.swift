import AttrGuardCore
import CMPI
import Foundation

/// An MPI call that returned an error code (errors are returned, not fatal: MPI_ERRORS_RETURN).
public struct CommunicatorError: Error, CustomStringConvertible {
    public let rank: Int
    public let call: String
    public let code: Int32
    public var description: String { "rank \(rank): \(call) failed with MPI error code \(code)" }
}

/// What an all-reduce computes element-wise; `average` is a sum divided by the rank count.
public enum ReduceOp: Sendable { case sum, average, max, min }

/// The process group that keeps one model across worker processes.
///
/// Under `mpirun` it wraps MPI_COMM_WORLD (MPI initialised once, lazily, for the whole
/// process — MPI cannot be initialised again after MPI_Finalize). Started without mpirun it
/// is a 1-rank world that never touches MPI, so the same code runs on a laptop and in tests.
public final class Communicator: @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// Whether this process is part of an MPI job (false: single-process fallback).
    public let usesMPI: Bool
    private let comm: MPI_Comm?
    /// A duplicate of the world for the time-out notes, so they never meet a collective's messages.
    private let notes: MPI_Comm?

    /// How long one collective may wait for the other ranks, in seconds (nil: for ever). Past it
    /// this rank tells the others it is waiting, listens a short grace for their notes, names the
    /// ranks that never arrived (a stopped or dead process, a lost link) and ends its process with
    /// `timeoutExitCode`, so no rank of a broken job hangs. Collectives then run nonblocking and
    /// are completed by polling against the deadline (Open MPI's MPI_Wait polls too).
    public var collectiveTimeout: Double?
    /// What the job is doing, for the time-out message ("step 13", "checkpoint of step 20").
    public var activity = "start-up"
    /// The exit status of a rank whose collective timed out (as coreutils' `timeout`).
    public static let timeoutExitCode: Int32 = 124
    /// Collectives this rank has entered: equal on every rank in lockstep, so the notes say
    /// whether the others wait in the same one.
    private var sequence: Int64 = 0

    /// The world: the one communicator of the process (beside it, process-wide by nature: oneDNN's
    /// engine and the CLI's stop-signal atomics, which a signal handler can reach).
    public static let world = Communicator()

    /// True when a launcher (mpirun/srun with PMIx) started this process.
    public static var launchedByMPI: Bool {
        let env = ProcessInfo.processInfo.environment
        return env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMIX_RANK"] != nil || env["PMI_RANK"] != nil
    }

    private init() {
        guard Communicator.launchedByMPI else {
            rank = 0; size = 1; usesMPI = false; comm = nil; notes = nil
            return
        }
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            var provided: Int32 = 0
            MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided)
        }
        let world = cmpi_comm_world()
        // Errors come back as codes (thrown with the rank) instead of killing the job silently.
        MPI_Comm_set_errhandler(world, cmpi_errors_return())
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(world, &r)
        MPI_Comm_size(world, &s)
        var duplicate: MPI_Comm? = nil
        MPI_Comm_dup(world, &duplicate)
        rank = Int(r); size = Int(s); usesMPI = true; comm = world; notes = duplicate
    }

    private func check(_ code: Int32, _ call: String) throws {
        if code != cmpi_success() { throw CommunicatorError(rank: rank, call: call, code: code) }
    }

    /// Reduces several tensors of one dtype in place as one message (packed into a flat buffer and
    /// back): batch-norm statistics or optimizer state take one all-reduce instead of one each.
    public func allreduce(_ tensors: [Tensor], op: ReduceOp = .sum, label: String? = nil) throws {
        guard let first = tensors.first, size > 1 else { return }
        require(tensors.allSatisfy { $0.dtype == first.dtype }, "allreduce: fused tensors must share a dtype")
        let flat = Tensor(zeros: [tensors.reduce(0) { $0 + $1.count }], dtype: first.dtype)
        var offset = 0
        for t in tensors {
            var slot = Tensor(storage: flat.storage, shape: t.shape, offset: offset)
            slot.copyElements(from: t)
            offset += t.count
        }
        try allreduce(flat, op: op, label: label)
        offset = 0
        for t in tensors {
            var target = t
            target.copyElements(from: Tensor(storage: flat.storage, shape: t.shape, offset: offset))
            offset += t.count
        }
    }

    /// Reduces `buffer` across ranks in place (every rank gets the result). `label` names it in a
    /// time-out message.
    public func allreduce(_ buffer: Tensor, op: ReduceOp = .sum, label: String? = nil) throws {
        guard usesMPI, size > 1 else { return }
        let mpiOp: MPI_Op
        switch op {
        case .sum, .average: mpiOp = cmpi_sum()
        case .max: mpiOp = cmpi_max()
        case .min: mpiOp = cmpi_min()
        }
        let type = buffer.dtype == .float32 ? cmpi_float() : cmpi_double()
        let raw = buffer.rawPointer
        var done = 0
        // MPI counts are Int32: reduce huge buffers in chunks.
        while done < buffer.count {
            let n = Swift.min(buffer.count - done, Int(Int32.max) / 2), chunk = raw + done * buffer.dtype.byteSize
            try collective(label ?? "all-reduce of \(buffer.count) \(buffer.dtype) values", "Allreduce",
                           blocking: { MPI_Allreduce(cmpi_in_place(), chunk, Int32(n), type, mpiOp, comm) },
                           start: { MPI_Iallreduce(cmpi_in_place(), chunk, Int32(n), type, mpiOp, comm, &$0) })
            done += n
        }
        if op == .average { scaleInPlace(buffer, 1 / Double(size)) }
    }

    /// Starts an in-place sum all-reduce of `buffer` and returns at once (MPI_Iallreduce);
    /// `wait` completes it. The buffer must not be touched until then.
    public func startAllreduce(_ buffer: Tensor, label: String) throws -> PendingReduction {
        let pending = PendingReduction(buffer, label: label)
        guard usesMPI, size > 1 else { return pending }
        sequence += 1
        require(buffer.count <= Int(Int32.max), "startAllreduce: \(buffer.count) elements exceed one MPI call")
        let type = buffer.dtype == .float32 ? cmpi_float() : cmpi_double()
        var request: MPI_Request? = cmpi_request_null()
        try check(MPI_Iallreduce(cmpi_in_place(), buffer.rawPointer, Int32(buffer.count), type, cmpi_sum(), comm, &request), "MPI_Iallreduce")
        pending.request = request
        return pending
    }

    /// Lets MPI advance outstanding reductions (Open MPI progresses them only inside MPI calls).
    public func progress(_ pending: [PendingReduction]) throws {
        for p in pending where p.request != nil {
            var done: Int32 = 0
            try check(MPI_Test(&p.request, &done, cmpi_status_ignore()), "MPI_Test")
        }
    }

    /// Completes reductions started with `startAllreduce`.
    public func wait(_ pending: [PendingReduction]) throws {
        for p in pending where p.request != nil {
            try complete(&p.request, p.label)
        }
    }

    /// Reduces a few doubles (metrics, counters) across ranks.
    public func allreduce(_ values: [Double], op: ReduceOp = .sum, label: String? = nil) throws -> [Double] {
        let t = Tensor(shape: [values.count], values: values, dtype: .float64)
        try allreduce(t, op: op, label: label)
        return t.doubles
    }

    /// Copies root's `buffer` into every rank's `buffer`, in place.
    public func broadcast(_ buffer: Tensor, root: Int = 0, label: String? = nil) throws {
        guard usesMPI, size > 1 else { return }
        let raw = buffer.rawPointer, bytes = Int32(buffer.count * buffer.dtype.byteSize)
        try collective(label ?? "broadcast of \(buffer.count) \(buffer.dtype) values from rank \(root)", "Bcast",
                       blocking: { MPI_Bcast(raw, bytes, cmpi_byte(), Int32(root), comm) },
                       start: { MPI_Ibcast(raw, bytes, cmpi_byte(), Int32(root), comm, &$0) })
    }

    /// True on every rank when all ranks passed the same value.
    public func allEqual(_ value: UInt64, label: String = "weight-hash check") throws -> Bool {
        guard usesMPI, size > 1 else { return true }
        var bounds = [value, value]   // min, max
        try bounds.withUnsafeMutableBufferPointer { b in
            for (i, op) in [cmpi_min(), cmpi_max()].enumerated() {
                let slot = b.baseAddress! + i
                try collective(label, "Allreduce", blocking: { MPI_Allreduce(cmpi_in_place(), slot, 1, cmpi_uint64(), op, comm) },
                               start: { MPI_Iallreduce(cmpi_in_place(), slot, 1, cmpi_uint64(), op, comm, &$0) })
            }
        }
        return bounds[0] == bounds[1]
    }

    /// Returns once every rank has called it.
    public func barrier(label: String = "barrier") throws {
        guard usesMPI, size > 1 else { return }
        try collective(label, "Barrier", blocking: { MPI_Barrier(comm) }, start: { MPI_Ibarrier(comm, &$0) })
    }

    /// One collective: the blocking call without a time-out; with one, started nonblocking and
    /// completed against the deadline. `call` is the MPI name without its prefix ("Allreduce").
    private func collective(_ label: @autoclosure () -> String, _ call: String, blocking: () -> Int32,
                            start: (inout MPI_Request?) -> Int32) throws {
        sequence += 1
        guard collectiveTimeout != nil else { return try check(blocking(), "MPI_" + call) }
        var request: MPI_Request? = cmpi_request_null()
        try check(start(&request), "MPI_I" + call.lowercased())
        try complete(&request, label())
    }

    /// Completes a started collective: MPI_Wait, or polling MPI_Test until the time-out.
    private func complete(_ request: inout MPI_Request?, _ label: String) throws {
        guard let limit = collectiveTimeout else { return try check(MPI_Wait(&request, cmpi_status_ignore()), "MPI_Wait") }
        let deadline = DispatchTime.now().uptimeNanoseconds &+ UInt64(Swift.max(0, limit) * 1e9)
        var done: Int32 = 0, polls = 0
        while true {
            try check(MPI_Test(&request, &done, cmpi_status_ignore()), "MPI_Test")
            if done != 0 { return }
            polls &+= 1
            if polls % 64 == 0 && DispatchTime.now().uptimeNanoseconds > deadline { timedOut(label, after: limit) }
        }
    }

    /// Ends this rank after a collective timed out: every other rank gets a note "rank r waits in
    /// collective #n", the notes of the others are gathered for a grace period (ranks that wait in
    /// the same collective time out at about the same moment), and the message names the ranks that
    /// sent none — they never arrived (stopped, dead, or behind a lost link). Exits without MPI_Abort,
    /// whose report to the launcher can block when a node is unreachable; the launcher sees a rank
    /// exit without finalizing and ends the rest of the job.
    private func timedOut(_ label: String, after limit: Double) -> Never {
        let grace = Swift.min(5, Swift.max(0.5, limit / 4))
        let mine = UnsafeMutablePointer<Int64>.allocate(capacity: 1)   // sent buffer: lives until exit
        mine.pointee = sequence
        for peer in 0..<size where peer != rank {
            var request: MPI_Request? = cmpi_request_null()
            MPI_Isend(mine, 1, cmpi_int64(), Int32(peer), Self.noteTag, notes, &request)
        }
        var waiting: [Int: Int64] = [rank: sequence]
        let end = DispatchTime.now().uptimeNanoseconds &+ UInt64(grace * 1e9)
        while waiting.count < size && DispatchTime.now().uptimeNanoseconds < end {
            var flag: Int32 = 0, status = MPI_Status()
            MPI_Iprobe(cmpi_any_source(), Self.noteTag, notes, &flag, &status)
            if flag == 0 { usleep(1000); continue }
            var theirs: Int64 = 0
            MPI_Recv(&theirs, 1, cmpi_int64(), status.MPI_SOURCE, Self.noteTag, notes, cmpi_status_ignore())
            waiting[Int(status.MPI_SOURCE)] = theirs
        }
        let same = waiting.filter { $0.value == sequence }.keys.sorted()
        let elsewhere = waiting.filter { $0.value != sequence }.sorted { $0.key < $1.key }
        let absent = (0..<size).filter { waiting[$0] == nil }
        var message = "attrguard: rank \(rank) of \(size): \(activity): \(label) did not complete within \(String(format: "%g", limit)) s "
            + "(train.collective_timeout_s); ranks waiting in it: \(Self.list(same))"
        if !elsewhere.isEmpty { message += "; waiting in another collective: " + elsewhere.map { "\($0.key) (#\($0.value), this is #\(sequence))" }.joined(separator: ", ") }
        message += "; ranks that did not arrive: \(Self.list(absent))"
            + (absent.isEmpty ? "" : " (stopped, dead, or unreachable)") + "; ending the job, exit \(Self.timeoutExitCode)\n"
        FileHandle.standardError.write(message.data(using: .utf8)!)
        fflush(nil)
        _exit(Self.timeoutExitCode)
    }

    private static let noteTag: Int32 = 7_124

    private static func list(_ ranks: [Int]) -> String { ranks.isEmpty ? "none" : ranks.map(String.init).joined(separator: ", ") }

    /// Ends every process of the job with `code` (never returns). Used on any rank's error so
    /// that no rank hangs in a collective.
    public func abort(code: Int32 = 1) -> Never {
        if usesMPI { MPI_Abort(comm, code) }
        exit(code)
    }

    /// Clean shutdown at the end of a command; after this no collective may be called.
    public func finalize() {
        guard usesMPI else { return }
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { MPI_Finalize() }
    }
}

/// An all-reduce in flight.
public final class PendingReduction {
    public let buffer: Tensor
    /// What it reduces, for a time-out message.
    public let label: String
    var request: MPI_Request?
    init(_ buffer: Tensor, label: String) { self.buffer = buffer; self.label = label; request = nil }
}

func scaleInPlace(_ t: Tensor, _ s: Double) {
    switch t.dtype {
    case .float32: let p = t.mutablePointer(Float.self), f = Float(s); for i in 0..<t.count { p[i] *= f }
    case .float64: let p = t.mutablePointer(Double.self); for i in 0..<t.count { p[i] *= s }
    }
}
