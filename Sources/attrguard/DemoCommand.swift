import AttrGuardDistributed
import AttrGuardTraining
import ArgumentParser
import Foundation

/// `attrguard demo`: the tiny double-backprop training run on generated data.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Quickstart: train a small Softplus CNN with the l2+cosine input-gradient regularizer on the generated dataset.")

    @Option(help: "Optimizer steps.") var steps = 150
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
                print("demo: \(comm.size) rank(s), global batch \(batch), \(steps) steps, l2cos on \(demo.trainPerClass * 10) generated 32×32 images of 10 classes")
            }
            var first: Double?
            let last = try demo.run(communicator: comm) { step, terms in
                if first == nil { first = terms["total"] }
                guard comm.rank == 0, step % 10 == 0 || step == steps - 1 else { return }
                let parts = ["total", "ce", "l2_term", "cos_term"].compactMap { k in terms[k].map { "\(k)=\(String(format: "%.4f", $0))" } }
                print("step \(String(format: "%3d", step + 1))/\(steps)  " + parts.joined(separator: "  "))
            }
            if comm.rank == 0, let first, let total = last["total"] {
                let seconds = Double((ContinuousClock.now - start).components.seconds)
                print(String(format: "demo: total loss %.4f -> %.4f in %.0f s; test accuracy %.1f%% (chance 10%%)",
                             first, total, seconds, 100 * (last["test_accuracy"] ?? 0)))
            }
        } catch {
            FileHandle.standardError.write("rank \(comm.rank): \(error)\n".data(using: .utf8)!)
            comm.abort(code: 1)
        }
        comm.finalize()
    }
}
