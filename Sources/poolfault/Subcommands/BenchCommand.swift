import ArgumentParser

/// `poolfault bench`: benchmarks (release build). Medians over several runs, with the device
/// and cache state named; never part of the tests.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (build with -c release): recovery latency, silent-corruption detection, GEMM kernels, model forward, Vulkan start-up floors, report merge.",
        subcommands: [BenchRecoveryCommand.self, BenchCorruptionCommand.self, BenchKernelsCommand.self, BenchForwardCommand.self, BenchVulkanCommand.self, BenchMergeCommand.self])
}
