import ArgumentParser

/// `poolfault bench`: benchmarks (release build). Medians over several runs, with the device
/// and cache state named; never part of the tests.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks: Vulkan start-up floors (more kinds arrive with the model and the pool).",
        subcommands: [BenchVulkanCommand.self])
}
