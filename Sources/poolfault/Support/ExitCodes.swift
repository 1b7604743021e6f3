import ArgumentParser
import FaultTest
import ResourcePool
import Transformer
import TransformerGPU
import VulkanCompute

/// poolfault's exit codes (README, Exit codes): sysexits-style for usage (64) and data (65) errors.
enum ExitStatus {
    static let scenarioFailed: Int32 = 1
    static let toolFailed: Int32 = 2
    static let usage: Int32 = 64
    static let dataError: Int32 = 65
}

/// Turns a library error into a one-line message on stderr and the matching exit code.
/// Every subcommand's `run()` goes through this, so no error reaches the user as a trap or
/// as ArgumentParser's generic text.
func exitCode(for error: Error) -> ExitCode {
    if let e = error as? VulkanError {
        switch e {
        case .deviceSelection: return ExitCode(ExitStatus.usage)
        default: return ExitCode(ExitStatus.toolFailed)
        }
    }
    if let e = error as? ModelDataError { return ExitCode(e.isIOFailure ? ExitStatus.toolFailed : ExitStatus.dataError) }
    if let e = error as? ModelUsageError {
        if case .stateMismatch = e { return ExitCode(ExitStatus.toolFailed) }
        return ExitCode(ExitStatus.usage)
    }
    if error is ValidationError { return ExitCode(ExitStatus.usage) }
    if error is DataError { return ExitCode(ExitStatus.dataError) }
    if error is ReportWriteError { return ExitCode(ExitStatus.toolFailed) }
    if case PoolError.unknownTarget = error { return ExitCode(ExitStatus.usage) }
    return ExitCode(ExitStatus.toolFailed)
}

/// Runs `body`; a thrown error is printed as `poolfault: <message>` and becomes its exit code.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch let e as ValidationError {
        printError("poolfault: \(e.message)")
        throw ExitCode(ExitStatus.usage)
    } catch {
        printError("poolfault: \(error)")
        throw exitCode(for: error)
    }
}
