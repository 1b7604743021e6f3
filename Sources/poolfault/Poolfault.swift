import ArgumentParser
import BrowserLaunch
import BrowserWorker
import Foundation
import TransformerGPU
import VulkanCompute

/// poolfault: fault-tolerance tests of a GPU resource pool with real compute.
/// This executable only parses flags, sets up logging (stderr) and prints (stdout); the work
/// lives in the library targets (docs/architecture.md has the layers).
@main
struct Poolfault: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "poolfault",
        abstract: "Test the fault tolerance of a GPU resource pool with real Vulkan compute.",
        discussion: """
            Exit codes: 0 success · 1 a scenario failed · 2 the tool could not run (no Vulkan \
            loader or driver, unwritable output) · 64 bad flags or environment settings · 65 bad input data.
            """,
        version: version,
        subcommands: [RunCommand.self, SoakCommand.self, DevicesCommand.self, InferCommand.self, BenchCommand.self, ReportCommand.self],
        defaultSubcommand: RunCommand.self)

    static func main() {
        // Kernel choices are measured per machine and poolfault version: a browser process reads
        // the ones its pool measured under the same key.
        KernelChoiceBook.shared.poolfaultVersion = version
        // The browser-process role (hidden): started by a pool in process isolation.
        if CommandLine.arguments.count == 4, CommandLine.arguments[1] == "worker", CommandLine.arguments[2] == "--spec" {
            guard let spec = try? JSONDecoder().decode(WorkerSpec.self, from: Data(CommandLine.arguments[3].utf8)) else {
                printError("poolfault worker: the --spec JSON is not a worker spec (this role is started by poolfault itself)")
                Foundation.exit(ExitStatus.usage)
            }
            BrowserWorker.main(spec: spec)
        }
        ThreadPoolSpin.shortenBeforeStart()  // may re-execute this process once (why: ThreadPoolSpin)
        Interruption.install()
        var status: Int32 = 0
        do {
            try EnvironmentKnobs.checkAll()
            var command = try parseAsRoot(nil)
            try command.run()
        } catch {
            status = finish(error)
        }
        exitFlushingStdout(status)
    }

    /// Help and version go out as ArgumentParser prints them; every other error is one line on
    /// stderr (README promises that), with the exit code of ExitCodes.swift.
    private static func finish(_ error: any Error) -> Int32 {
        let code = exitCode(for: error)
        if code == .success || error is CleanExit {
            let text = fullMessage(for: error)
            if !text.isEmpty { print(text) }
            return 0
        }
        if let e = error as? ExitCode { return e.rawValue }
        if let e = error as? EnvironmentKnobError {
            printError("poolfault: \(e)")
            return ExitStatus.usage
        }
        // A parse or validation error: ArgumentParser's text without its usage block.
        let message = message(for: error).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: " ")
        printError("poolfault: \(message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message)")
        return code.rawValue
    }

    /// Flushes stdout and exits. A result that could not be written (a full disk, a closed
    /// pipe) is a failure of the tool (exit 2), never a silent success.
    private static func exitFlushingStdout(_ status: Int32) -> Never {
        var status = status
        if fflush(nil) != 0 || ferror(Terminal.stdoutFile) != 0 {
            let why = String(cString: strerror(errno))
            printError("poolfault: could not write the results to standard output: \(why)")
            if status == 0 { status = ExitStatus.toolFailed }
        }
        // A device abandoned with work still running (a hang past its deadline) may keep a
        // driver thread busy: leave without running the driver's exit handlers.
        if ComputeDevice.abandonedCount > 0 { _exit(status) }
        Foundation.exit(status)
    }
}

/// Every environment variable poolfault reads, checked before any work.
enum EnvironmentKnobs {
    static let logLevel = EnvironmentKnob<String>(
        "POOLFAULT_LOG_LEVEL", expected: "trace, debug, info, notice, warning, error or critical") { text in
        ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(text.lowercased()) ? text.lowercased() : nil
    }

    static func checkAll(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        for check in VulkanKnobs.checks + GPUKnobs.checks + CPUKnobs.checks + [logLevel.check] { try check(environment) }
    }
}
