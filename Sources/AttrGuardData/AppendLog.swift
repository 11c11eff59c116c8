import Foundation

/// A log written a record at a time (the trainer's `log.metrics`): appended, each record written
/// whole and synced, so a crash or a full disk leaves only complete records behind.
///
/// The same output policy as `writeAtomically`: a symbolic link is followed, and a directory,
/// device, pipe or socket is refused (never opened, never replaced). The open file is locked
/// (flock) for as long as the log lives, so a second writer is refused at once. Errors name the
/// path as given and the system's reason.
public final class AppendLog {
    public let path: String
    private let fd: Int32

    /// - Parameter what: names the log in errors ("log.metrics").
    public init(path: String, what: String) throws {
        self.path = path
        let fd = try openRegularFile(resolvedWriteTarget(path), file: path, what: what, append: true)
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let why = errno == EWOULDBLOCK ? "another process is writing it (a second run with the same \(what)?)" : String(cString: strerror(errno))
            close(fd)
            throw DataError(file: path, "\(what) cannot be locked: \(why)")
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Appends `record` (one line, newline included) and syncs it. On failure (a full disk) the
    /// file is cut back to where it was, so no partial record stays, and the error says why.
    public func append(_ record: Data) throws {
        let start = lseek(fd, 0, SEEK_END)
        var failure = writeAll(fd, record)
        if failure == nil && fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            if start >= 0 { _ = ftruncate(fd, start) }
            throw DataError(file: path, "cannot append a record: \(failure)")
        }
    }

    /// The file's bytes as they are now (read through the locked descriptor).
    public func contents() throws -> Data {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw DataError(file: path, "cannot be read: \(String(cString: strerror(errno)))") }
        var data = Data(count: Int(st.st_size))
        var failure: String?
        data.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset < raw.count && failure == nil {
                let n = pread(fd, raw.baseAddress! + offset, raw.count - offset, off_t(offset))
                if n < 0 { if errno != EINTR { failure = String(cString: strerror(errno)) } } else if n == 0 { break } else { offset += n }
            }
        }
        if let failure { throw DataError(file: path, "cannot be read: \(failure)") }
        return data
    }

    /// Cuts the file to its first `length` bytes (records a resumed run logs again, a partial tail).
    public func truncate(to length: Int) throws {
        guard ftruncate(fd, off_t(length)) == 0, fsync(fd) == 0 else {
            throw DataError(file: path, "cannot be cut back to \(length) bytes: \(String(cString: strerror(errno)))")
        }
    }
}
