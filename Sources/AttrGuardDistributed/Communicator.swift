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
            rank = 0; size = 1; usesMPI = false; comm = nil
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
        rank = Int(r); size = Int(s); usesMPI = true; comm = world
    }

    private func check(_ code: Int32, _ call: String) throws {
        if code != cmpi_success() { throw CommunicatorError(rank: rank, call: call, code: code) }
    }

    /// Reduces several tensors of one dtype in place as one message (packed into a flat buffer and
    /// back): batch-norm statistics or optimizer state take one all-reduce instead of one each.
    public func allreduce(_ tensors: [Tensor], op: ReduceOp = .sum) throws {
        guard let first = tensors.first, size > 1 else { return }
        require(tensors.allSatisfy { $0.dtype == first.dtype }, "allreduce: fused tensors must share a dtype")
        let flat = Tensor(zeros: [tensors.reduce(0) { $0 + $1.count }], dtype: first.dtype)
        var offset = 0
        for t in tensors {
            var slot = Tensor(storage: flat.storage, shape: t.shape, offset: offset)
            slot.copyElements(from: t)
            offset += t.count
        }
        try allreduce(flat, op: op)
        offset = 0
        for t in tensors {
            var target = t
            target.copyElements(from: Tensor(storage: flat.storage, shape: t.shape, offset: offset))
            offset += t.count
        }
    }

    /// Reduces `buffer` across ranks in place (every rank gets the result).
    public func allreduce(_ buffer: Tensor, op: ReduceOp = .sum) throws {
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
            let n = Swift.min(buffer.count - done, Int(Int32.max) / 2)
            try check(MPI_Allreduce(cmpi_in_place(), raw + done * buffer.dtype.byteSize, Int32(n), type, mpiOp, comm), "MPI_Allreduce")
            done += n
        }
        if op == .average { scaleInPlace(buffer, 1 / Double(size)) }
    }

    /// Starts an in-place sum all-reduce of `buffer` and returns at once (MPI_Iallreduce);
    /// `wait` completes it. The buffer must not be touched until then.
    public func startAllreduce(_ buffer: Tensor) throws -> PendingReduction {
        let pending = PendingReduction(buffer)
        guard usesMPI, size > 1 else { return pending }
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
            try check(MPI_Wait(&p.request, cmpi_status_ignore()), "MPI_Wait")
        }
    }

    /// Reduces a few doubles (metrics, counters) across ranks.
    public func allreduce(_ values: [Double], op: ReduceOp = .sum) throws -> [Double] {
        let t = Tensor(shape: [values.count], values: values, dtype: .float64)
        try allreduce(t, op: op)
        return t.doubles
    }

    /// Copies root's `buffer` into every rank's `buffer`, in place.
    public func broadcast(_ buffer: Tensor, root: Int = 0) throws {
        guard usesMPI, size > 1 else { return }
        let raw = buffer.rawPointer
        try check(MPI_Bcast(raw, Int32(buffer.count * buffer.dtype.byteSize), cmpi_byte(), Int32(root), comm), "MPI_Bcast")
    }

    /// True on every rank when all ranks passed the same value.
    public func allEqual(_ value: UInt64) throws -> Bool {
        guard usesMPI, size > 1 else { return true }
        var lo = value, hi = value
        try check(MPI_Allreduce(cmpi_in_place(), &lo, 1, cmpi_uint64(), cmpi_min(), comm), "MPI_Allreduce(min)")
        try check(MPI_Allreduce(cmpi_in_place(), &hi, 1, cmpi_uint64(), cmpi_max(), comm), "MPI_Allreduce(max)")
        return lo == hi
    }

    /// Returns once every rank has called it.
    public func barrier() throws {
        guard usesMPI, size > 1 else { return }
        try check(MPI_Barrier(comm), "MPI_Barrier")
    }

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
    var request: MPI_Request?
    init(_ buffer: Tensor) { self.buffer = buffer; request = nil }
}

func scaleInPlace(_ t: Tensor, _ s: Double) {
    switch t.dtype {
    case .float32: let p = t.mutablePointer(Float.self), f = Float(s); for i in 0..<t.count { p[i] *= f }
    case .float64: let p = t.mutablePointer(Double.self); for i in 0..<t.count { p[i] *= s }
    }
}
