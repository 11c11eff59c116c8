import AttrGuardCore
import AttrGuardTools
import AttrGuardTraining
import ArgumentParser
import Foundation

/// `attrguard golden FILE...`: recompute PyTorch float64 reference cases through our engine.
struct GoldenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "golden",
        abstract: "Check golden cases (PyTorch float64 references): one line per field with its max relative error.")

    @Argument(help: "Golden case files (*.json).")
    var files: [String]

    @Option(help: "Precision to recompute in: float64 (tolerance 1e-8) or float32 (1e-3).")
    var dtype: DType = .float64

    func run() throws {
        let type = dtype
        var failures = 0
        for file in files {
            do {
                let c = try GoldenCase(contentsOf: file)
                let results = try GoldenCheck.run(c, dtype: type)
                for r in results {
                    let status = r.passed ? "ok  " : "FAIL"
                    print("\(status) \(c.name) \(r.field) max_rel_err=\(String(format: "%.3e", r.error))\(r.note.isEmpty ? "" : " (\(r.note))")")
                }
                let bad = results.filter { !$0.passed }.count
                failures += bad
                print("\(bad == 0 ? "PASS" : "FAIL") \(c.name) [\(type)]: \(results.count - bad)/\(results.count) fields within \(GoldenCheck.tolerance(for: type))")
            } catch {
                failures += 1
                print("FAIL \(file): \(error)")
            }
        }
        if failures > 0 { throw ExitCode.failure }
    }
}
