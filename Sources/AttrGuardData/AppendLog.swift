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

    /// - Parameters:
    ///   - truncate: empty the file once it is locked (a run told to overwrite an earlier log).
    ///   - what: names the log in errors ("log.metrics").
    public init(path: String, what: String, truncate: Bool = false) throws {
        self.path = path
        let target = try resolvedWriteTarget(path)
        // O_NONBLOCK: a pipe that appears between the check and the open must not block the open.
        let fd = open(target, O_RDWR | O_CREAT | O_APPEND | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DataError(file: path, "\(what) cannot be opened for writing: \(String(cString: strerror(errno)))") }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw DataError(file: path, "\(what) is not a regular file; refusing to write to it")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let why = errno == EWOULDBLOCK ? "another process is writing it (a second run with the same \(what)?)" : String(cString: strerror(errno))
            close(fd)
            throw DataError(file: path, "\(what) cannot be locked: \(why)")
        }
        _ = fcntl(fd, F_SETFL, O_APPEND)
        if truncate && ftruncate(fd, 0) != 0 {
            let why = String(cString: strerror(errno))
            close(fd)
            throw DataError(file: path, "\(what) cannot be emptied: \(why)")
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Appends `record` (one line, newline included) and syncs it. On failure (a full disk) the
    /// file is cut back to where it was, so no partial record stays, and the error says why.
    public func append(_ record: Data) throws {
        let start = lseek(fd, 0, SEEK_END)
        var failure: String?
        record.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count && failure == nil {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 { if errno != EINTR { failure = String(cString: strerror(errno)) } } else { offset += n }
            }
        }
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
