import AttrGuardCore
import AttrGuardDistributed
import Foundation
import AttrGuardTestSupport
import Testing

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
        let (status, output) = try runMPI(ranks: ranks, ["allreduce-check", "--count", "100003"])
        print(output)
        #expect(status == 0, "\(output)")
        for r in 0..<ranks {
            #expect(output.contains("rank \(r)/\(ranks) float32: allreduce sum ok, average ok, broadcast ok"))
            #expect(output.contains("rank \(r)/\(ranks) float64: allreduce sum ok, average ok, broadcast ok"))
        }
    }
}
