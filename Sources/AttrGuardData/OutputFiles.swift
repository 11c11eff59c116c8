import Foundation

/// Writes `data` as the file `path` names, all at once: into a temporary file beside it, synced,
/// then renamed over it, so a reader (or a crash) never sees half a file.
///
/// A symbolic link is followed: the file it points at is replaced and the link stays. An
/// existing directory, device, pipe or socket is refused, never replaced. Errors name the path
/// as given and the system's reason.
public func writeAtomically(_ data: Data, to path: String) throws {
    let target = try resolvedWriteTarget(path)
    let directory = (target as NSString).deletingLastPathComponent
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory.isEmpty ? "." : directory, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw DataError(file: path, "cannot write: directory \(directory) does not exist")
    }
    let tmp = target + ".tmp-\(getpid())"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw DataError(file: path, "cannot write: \(String(cString: strerror(errno))) (creating \(tmp))") }
    var failure = writeAll(fd, data)
    if failure == nil && fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
    if close(fd) != 0 && failure == nil { failure = String(cString: strerror(errno)) }
    if failure == nil && rename(tmp, target) != 0 { failure = String(cString: strerror(errno)) }
    if let failure {
        unlink(tmp)
        throw DataError(file: path, "cannot write: \(failure)")
    }
}

/// Writes all of `data` to `fd` (short writes and EINTR retried): nil, or the system's reason.
func writeAll(_ fd: Int32, _ data: Data) -> String? {
    var failure: String?
    data.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count && failure == nil {
            let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 { if errno != EINTR { failure = String(cString: strerror(errno)) } } else { offset += n }
        }
    }
    return failure
}

/// Opens `path` read-write, created if missing (appending with `append`), as a regular file only:
/// O_NOFOLLOW and O_NONBLOCK so a link or pipe that appears after the caller's checks is neither
/// followed nor waited on, then anything but a regular file is refused. `file` names it in errors.
func openRegularFile(_ path: String, file: String, what: String, append: Bool) throws -> Int32 {
    let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (append ? O_APPEND : 0), 0o644)
    guard fd >= 0 else { throw DataError(file: file, "\(what) cannot be opened for writing: \(String(cString: strerror(errno)))") }
    var st = stat()
    guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
        close(fd)
        throw DataError(file: file, "\(what) is not a regular file; refusing to write to it")
    }
    _ = fcntl(fd, F_SETFL, append ? O_APPEND : 0)   // blocking again
    return fd
}

/// The file a write to `path` should replace: symbolic links followed (up to 40), and refused
/// if it exists and is not a regular file.
func resolvedWriteTarget(_ path: String) throws -> String {
    var target = path
    for _ in 0..<40 {
        var st = stat()
        guard lstat(target, &st) == 0 else { return target }   // nothing there yet: a new file
        switch st.st_mode & S_IFMT {
        case S_IFREG: return target
        case S_IFLNK:
            guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: target) else {
                throw DataError(file: path, "cannot write: the symbolic link \(target) cannot be read")
            }
            target = link.hasPrefix("/") ? link : ((target as NSString).deletingLastPathComponent as NSString).appendingPathComponent(link)
        case S_IFDIR: throw DataError(file: path, "cannot write: \(target) is a directory; give a file name")
        default: throw DataError(file: path, "cannot write: \(target) is a device, pipe or socket, not a regular file; refusing to replace it")
        }
    }
    throw DataError(file: path, "cannot write: too many levels of symbolic links")
}

/// Makes `directory` ready before work that writes there, so an unusable one fails at once rather
/// than after the work: refused when a file is in the way (`fileInTheWay` says so), created with
/// its parents if missing, and proven writable with a probe file. `what` names it in errors
/// ("checkpoint.dir", "--out").
public func prepareWritableDirectory(_ directory: String, what: String, fileInTheWay: String) throws {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), !isDirectory.boolValue {
        throw DataError(file: directory, fileInTheWay)
    }
    do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
        throw DataError(file: directory, "\(what) cannot be created: \((error as NSError).localizedFailureReason ?? error.localizedDescription)")
    }
    let probe = (directory as NSString).appendingPathComponent(".write-probe-\(getpid())")
    let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o644)
    guard fd >= 0 else { throw DataError(file: directory, "\(what) is not writable: \(String(cString: strerror(errno)))") }
    close(fd)
    unlink(probe)
}
