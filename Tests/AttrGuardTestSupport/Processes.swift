import Foundation

/// Helpers shared by the test targets: paths, temporary folders, and running the built
/// `attrguard` binary (directly or under launch/mpirun.sh).

/// The repository root, from this file's path.
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// `../shared` beside the checkout (golden cases, datasets), which may be absent.
public let sharedDirectory = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared")

/// The attrguard binary built beside the test bundle.
public func attrguardBinary() -> String {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [dir, dir.deletingLastPathComponent()] {
        let path = candidate.appendingPathComponent("attrguard").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return repositoryRoot.appendingPathComponent(".build/debug/attrguard").path
}

public func temporaryDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("attrguard-test-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A started child process whose combined output is collected.
public final class Child: @unchecked Sendable {
    public let process = Process()
    private let pipe = Pipe()
    private var output = Data()
    private let lock = NSLock()

    /// Starts `executable` with OMPI_/PMIX_/OPAL_ variables removed (a test process may carry
    /// them, and they break a child mpirun).
    public init(_ executable: String, _ arguments: [String], environment extra: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("OMPI_") && !$0.key.hasPrefix("PMIX_") && !$0.key.hasPrefix("OPAL_")
        }
        env["ATTRGUARD_BIN"] = attrguardBinary()
        env.merge(extra) { $1 }
        process.environment = env
        process.standardOutput = pipe
        process.standardError = pipe
        pipe.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            self?.lock.withLock { self?.output.append(d) }
        }
        // A child inherits the spawning thread's signal mask, and test threads block the stop
        // signals: unblock them for the spawn so a child (and its shell traps) can receive them.
        var stopSignals = sigset_t(), previous = sigset_t()
        sigemptyset(&stopSignals)
        for s in [SIGTERM, SIGINT, SIGUSR1] { sigaddset(&stopSignals, s) }
        pthread_sigmask(SIG_UNBLOCK, &stopSignals, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        try process.run()
    }

    public var text: String { lock.withLock { String(decoding: output, as: UTF8.self) } }

    /// Waits for exit (killing the process at the deadline); returns the status.
    @discardableResult
    public func wait(timeout: Double) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { process.terminate(); usleep(200_000) }
        process.waitUntilExit()
        pipe.fileHandleForReading.readabilityHandler = nil
        lock.withLock { output.append(pipe.fileHandleForReading.readDataToEndOfFile()) }
        return process.terminationStatus
    }
}

/// Runs attrguard with `arguments`; (status, output).
public func runAttrguard(_ arguments: [String], timeout: Double = 300) throws -> (Int32, String) {
    let c = try Child(attrguardBinary(), arguments)
    let status = c.wait(timeout: timeout)
    return (status, c.text)
}

/// Runs `launch/mpirun.sh -np N arguments...`; (status, output).
public func runMPI(ranks: Int, _ arguments: [String], environment: [String: String] = [:], timeout: Double = 300) throws -> (Int32, String) {
    let c = try Child(repositoryRoot.appendingPathComponent("launch/mpirun.sh").path, ["-np", "\(ranks)"] + arguments, environment: environment)
    let status = c.wait(timeout: timeout)
    return (status, c.text)
}
