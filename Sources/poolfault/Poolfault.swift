import ArgumentParser

/// poolfault: fault-tolerance tests of a GPU resource pool with real compute.
/// This executable only parses flags, sets up logging (stderr) and prints (stdout); the work
/// lives in the library targets (DESIGN.md has the layers).
@main
struct Poolfault: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "poolfault",
        abstract: "Test the fault tolerance of a GPU resource pool with real Vulkan compute.",
        discussion: """
            Exit codes: 0 success · 1 a scenario failed · 2 the tool could not run (no Vulkan \
            loader or driver, unwritable output) · 64 bad flags · 65 bad input data.
            """,
        version: version,
        subcommands: [RunCommand.self, DevicesCommand.self, InferCommand.self, BenchCommand.self],
        defaultSubcommand: RunCommand.self)

    static func main() {
        OpenBLASSpin.shortenBeforeStart()  // may re-execute this process once (why: OpenBLASSpin)
        main(nil)
    }
}
