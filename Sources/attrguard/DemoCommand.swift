import AttrGuardDistributed
import AttrGuardTraining
import ArgumentParser
import Foundation

/// `attrguard demo`: the tiny double-backprop training run on generated data.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Train a small Softplus CNN with the l2+cosine input-gradient regularizer on generated images.")

    @Option(help: "Optimizer steps.") var steps = 60
    @Option(help: "Global batch (split evenly over MPI ranks).") var batch = 64
    @Option(help: "Learning rate.") var lr = 0.05
    @Option(help: "Seed.") var seed: UInt64 = 0

    func run() throws {
        let comm = Communicator.world
        var demo = DemoRun()
        demo.steps = steps; demo.globalBatch = batch; demo.learningRate = lr; demo.seed = seed
        let start = ContinuousClock.now
        do {
            if comm.rank == 0 {
                print("demo: \(comm.size) rank(s), global batch \(batch), \(steps) steps, l2cos on generated \(demo.imageSize)×\(demo.imageSize) images")
            }
            var first: Double?
            let last = try demo.run(communicator: comm) { step, terms in
                if first == nil { first = terms["total"] }
                guard comm.rank == 0, step % 5 == 0 || step == steps - 1 else { return }
                let parts = ["total", "ce", "l2_term", "cos_term"].compactMap { k in terms[k].map { "\(k)=\(String(format: "%.4f", $0))" } }
                print("step \(String(format: "%3d", step + 1))/\(steps)  " + parts.joined(separator: "  "))
            }
            if comm.rank == 0, let first, let total = last["total"] {
                let seconds = Double((ContinuousClock.now - start).components.seconds)
                print(String(format: "demo: total loss %.4f -> %.4f in %.0f s; held-out accuracy %.1f%% (chance %.0f%%)",
                             first, total, seconds, 100 * (last["heldout_accuracy"] ?? 0), 100.0 / Double(demo.classes)))
            }
        } catch {
            FileHandle.standardError.write("rank \(comm.rank): \(error)\n".data(using: .utf8)!)
            comm.abort(code: 1)
        }
        comm.finalize()
    }
}
