import ArgumentParser

@main
struct AttrGuard: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attrguard",
        abstract: "Train image classifiers with stable feature attributions, and measure that stability.",
        version: "attrguard 0.19.0",
        subcommands: [TrainCommand.self, EvalCommand.self, ExportCommand.self, GoldenCommand.self, MetricsCommand.self, PlotCommand.self, ResultsCommand.self, DataCommand.self, BenchCommand.self,
                      AllreduceCheckCommand.self, SyncBatchNormCheckCommand.self])
}
