import AttrGuardData
import AttrGuardReport
import AttrGuardTraining
import ArgumentParser
import Foundation

/// `attrguard plot METRICS.jsonl... --out F.svg`: training curves of one or more runs.
struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Training curves (loss terms, test accuracy, gradient norm, learning rate against step) from metrics JSON-lines files, as SVG.")

    @Argument(help: "Metrics files (log.metrics of a run); each becomes one line per panel, named after its folder.") var files: [String]
    @Option(help: "Output .svg file.") var out: String
    @Option(help: "Quantities to plot, comma-separated (default: total,ce,regularizer,test_accuracy,grad_norm,lr where present).")
    var keys: String?
    @Option(help: "Figure title.") var title = "Training curves"

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one metrics file") }
        guard out.hasSuffix(".svg") else { throw ValidationError("--out \(out): the plot is written as SVG; name it .svg") }
    }

    func run() throws {
        try reportingFailure("plot") {
            let metrics = try files.map { try MetricsFile(path: $0) }
            let wanted = keys.map { $0.split(separator: ",").map(String.init) }
            if let wanted, let missing = wanted.first(where: { k in !metrics.contains { !$0.series(k).isEmpty } }) {
                throw ValidationError("--keys: no file has '\(missing)' (they have: \(Set(metrics.flatMap(\.keys)).sorted().joined(separator: ", ")))")
            }
            try writeAtomically(Data(TrainingCurves.figure(metrics, keys: wanted, title: title).svg().utf8), to: out)
            print("plot: \(metrics.count) run(s) → \(out)")
        }
    }
}

/// `attrguard results SUITE --out DIR`: results.json, results.md and tradeoff.svg of a reproduction suite.
struct ResultsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "results",
        abstract: "Collect a suite of evaluated runs (SUITE/NAME/eval/report.json, metrics.jsonl, run.json) into results.json, results.md and tradeoff.svg.")

    @Argument(help: "Suite folders (each holding run folders) or run folders.") var suites: [String]
    @Option(help: "Output folder.") var out: String
    @Option(help: "Title of the table and the plot.") var title = "AttrGuard reproduction"
    @Option(help: "Rows of a reference implementation of the same setting (launch/reproduce_torch.py output; repeatable), tabled beside ours.")
    var reference: [String] = []

    func run() throws {
        try reportingFailure("results") {
            let rows = try suites.flatMap { try RunResults.rows(suite: $0) }
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try writeAtomically(ResultsTable.json(rows), to: "\(out)/results.json")
            let references = try reference.flatMap { try ResultRow.load($0) }
            var md = ResultsTable.markdown(rows, title: title, notes: ["![trade-off](tradeoff.svg)"])
            if !references.isEmpty {
                md += "\nSide by side with PyTorch on the same setting (launch/reproduce_torch.py; its own random streams):\n\n"
                    + ResultsTable.comparison(rows, reference: references)
            }
            try writeAtomically(Data(md.utf8), to: "\(out)/results.md")
            try writeAtomically(Data(ResultsTable.tradeoffFigure(rows, title: "\(title): accuracy against attribution robustness").svg().utf8),
                                to: "\(out)/tradeoff.svg")
            print("results: \(rows.count) run(s) → \(out)/results.json, results.md, tradeoff.svg")
        }
    }
}
