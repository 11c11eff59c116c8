import AttrGuardCore
import AttrGuardDistributed
import Foundation
import Testing

/// The repository root, from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The attrguard binary built beside the test bundle.
func attrguardBinary() -> URL {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [dir, dir.deletingLastPathComponent()] {
        let url = candidate.appendingPathComponent("attrguard")
        if FileManager.default.isExecutableFile(atPath: url.path) { return url }
    }
    return repositoryRoot.appendingPathComponent(".build/debug/attrguard")
}

/// Runs a command with OMPI_/PMIX_ variables removed; returns (status, stdout+stderr).
func run(_ executable: String, _ arguments: [String], environment extra: [String: String] = [:], timeout: Double = 120) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("OMPI_") && !$0.key.hasPrefix("PMIX_") && !$0.key.hasPrefix("OPAL_") }
    env.merge(extra) { $1 }
    p.environment = env
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    var output = Data()
    while p.isRunning {
        output.append(pipe.fileHandleForReading.availableData)
        if Date() > deadline { p.terminate(); break }
    }
    output.append(pipe.fileHandleForReading.readDataToEndOfFile())
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: output, as: UTF8.self))
}

@Suite(.serialized) struct CommunicatorTests {
    @Test func withoutMPIRunTheWorldIsOneRank() throws {
        let world = Communicator.world
        #expect(world.size == 1 && world.rank == 0 && !world.usesMPI)
        let t = Tensor(shape: [3], values: [1, 2, 3], dtype: .float32)
        try world.allreduce(t, op: .average)
        #expect(t.doubles == [1, 2, 3])
        #expect(try world.allEqual(7))
    }

    @Test(arguments: [2, 3])
    func allreduceAcrossRanksUnderMPIRun(ranks: Int) throws {
        let (status, output) = try run(repositoryRoot.appendingPathComponent("launch/mpirun.sh").path,
                                       ["-np", "\(ranks)", "allreduce-check", "--count", "100003"],
                                       environment: ["ATTRGUARD_BIN": attrguardBinary().path])
        print(output)
        #expect(status == 0, "\(output)")
        for r in 0..<ranks {
            #expect(output.contains("rank \(r)/\(ranks) float32: allreduce sum ok, average ok, broadcast ok"))
            #expect(output.contains("rank \(r)/\(ranks) float64: allreduce sum ok, average ok, broadcast ok"))
        }
    }
}
