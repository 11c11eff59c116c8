import Foundation

/// One writer per run directory: an exclusive flock on `DIR/.attrguard.lock`, held while this
/// value lives and released by the kernel when the process dies (kill -9 included), so a stale
/// lock never blocks a restart. A second run into the same directory is refused at once with the
/// holder's PID, host and start time (written into the lock file).
public final class RunDirectoryLock {
    public static let fileName = ".attrguard.lock"
    public let directory: String
    private let fd: Int32

    /// Takes the lock, creating `directory` (and its parents) if needed; `what` names it in errors.
    public init(directory: String, what: String) throws {
        self.directory = directory
        try prepareWritableDirectory(directory, what: what, fileInTheWay: "\(what) is a file, not a directory")
        let path = (directory as NSString).appendingPathComponent(Self.fileName)
        let fd = try openRegularFile(path, file: path, what: "the lock file of \(what)", append: false)
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let why = errno
            defer { close(fd) }
            guard why == EWOULDBLOCK else { throw DataError(file: path, "cannot lock \(what): \(String(cString: strerror(why)))") }
            // The holder writes its line just after it locks: a run started at the same moment waits briefly for it.
            var text = ""
            for _ in 0..<20 where text.isEmpty {
                var holder = [UInt8](repeating: 0, count: 256)
                let n = pread(fd, &holder, holder.count, 0)
                text = String(decoding: holder.prefix(max(0, n)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                if text.isEmpty { usleep(10_000) }
            }
            throw DataError(file: directory, "\(what) is in use by another run (\(text.isEmpty ? "holder unknown" : text)); "
                            + "wait for it to end or give this run another \(what) (nothing was written)")
        }
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count)
        let since = ISO8601DateFormatter().string(from: Date())
        let line = Array("pid \(getpid()) on host \(String(cString: host)) since \(since)\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, line, line.count, 0)
        self.fd = fd
    }

    deinit { close(fd) }
}
