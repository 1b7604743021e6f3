import ArgumentParser
import Logging
import VulkanCompute

/// The device flags every GPU subcommand shares.
struct DeviceOptions: ParsableArguments {
    @Option(help: "Physical device to use: an index or a name (substring). Default: the best GPU, else lavapipe.")
    var device: String?

    @Flag(help: "Fail (exit 2) when only a software Vulkan driver is available.")
    var requireGPU = false

    @Flag(help: "Enable the Khronos validation layer (also POOLFAULT_VALIDATE=1); validation messages are logged.")
    var validate = false

    @Flag(help: "Measure this machine's kernel variants again, replacing the kept choices (see `poolfault devices`).")
    var retune = false

    var selection: DeviceSelection { DeviceSelection(device: device, requireGPU: requireGPU) }

    /// Creates the instance and picks the physical device, saying on stderr when it falls back
    /// to a software driver.
    func open(logger: Logger) throws -> (VulkanInstance, PhysicalDevice) {
        // Browser processes validate when this instance does (their spec says so).
        let instance = try VulkanInstance(validation: validate || VulkanInstance.validationRequestedByEnvironment)
        let devices = try instance.physicalDevices()
        let (index, reason) = try selection.choose(from: devices.map(\.info))
        let chosen = devices[index]
        if chosen.info.isSoftware && selection.choice == .automatic {
            printError("poolfault: \(reason)")
        } else {
            logger.info("device \(index): \(chosen.info.name) (\(reason))")
        }
        try KernelTuning.prepare(chosen, retune: retune)
        return (instance, chosen)
    }
}

/// stderr logging through swift-log; POOLFAULT_LOG_LEVEL (trace…critical) sets the level.
enum Logs {
    static let bootstrap: Void = {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = EnvironmentKnobs.logLevel.value.flatMap(Logger.Level.init(rawValue:)) ?? .warning
            return handler
        }
    }()

    static func logger(_ label: String) -> Logger {
        _ = bootstrap
        return Logger(label: "poolfault.\(label)")
    }
}

import Foundation

/// Prints the validation layer's messages, if it was on, and fails the command (exit 1) on
/// any: every subcommand that takes `--validate` ends with this, so no message goes unread.
func finishValidation(_ instance: VulkanInstance) throws {
    let messages = instance.validationLog?.drain() ?? []
    guard !messages.isEmpty else { return }
    for m in messages { printError("validation: \(m)") }
    printError("poolfault: the Khronos validation layer reported \(messages.count) message(s)")
    throw ExitCode(ExitStatus.scenarioFailed)
}
