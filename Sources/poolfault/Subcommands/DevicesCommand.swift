import ArgumentParser
import Foundation
import TransformerGPU
import VulkanCompute

/// `poolfault devices`: every Vulkan physical device, what it can do, and which one poolfault
/// would use and why.
struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List Vulkan devices, their limits, and the default choice.")

    @OptionGroup var options: DeviceOptions

    @Flag(help: "Print a JSON object {\"devices\": [...], \"default\": INDEX} instead of text.")
    var json = false

    struct Listing: Encodable {
        let devices: [PhysicalDeviceInfo]
        let `default`: Int
        let reason: String
        let validation: Bool
        /// Per device, the kernel variants it runs: measured here by the tuner, or defaulted.
        let kernels: [KernelListing]
    }

    struct KernelListing: Encodable {
        let device: Int
        /// "measured" (the tuner's choices for this machine), "defaulted" (none kept) or "off" (POOLFAULT_TUNING=off).
        let source: String
        let choices: KernelChoices?
        let cache: String?
    }

    func run() throws {
        try reportingErrors {
            let instance = try VulkanInstance(validation: options.validate || VulkanInstance.validationRequestedByEnvironment)
            let physical = try instance.physicalDevices()
            let infos = physical.map(\.info)
            let (index, reason) = try options.selection.choose(from: infos)
            if options.retune { try KernelTuning.prepare(physical[index], retune: true) }
            let kernels = infos.map { info in
                let choices = KernelChoiceBook.shared.choices(for: info)
                return KernelListing(device: info.index, source: !KernelChoiceCache.tuningEnabled ? "off" : choices == nil ? "defaulted" : "measured",
                                     choices: choices, cache: KernelChoiceCache.default?.path)
            }
            let listing = Listing(devices: infos, default: index, reason: reason, validation: instance.validationLog != nil, kernels: kernels)
            print(json ? try jsonString(listing) : render(listing))
            try finishValidation(instance)
        }
    }

    /// The kernel variants a device runs, and where they come from.
    static func render(_ k: KernelListing) -> String {
        switch (k.source, k.choices) {
        case ("measured", let c?):
            let when = ISO8601DateFormatter().string(from: c.tunedAt)
            let timings = c.measurements.map { m in "\(m.candidate) \(String(format: "%.2f", m.medianMs)) ms" + (m.gflops.map { String(format: " (%.1f GFLOP/s)", $0) } ?? "") }
            return "\(KernelTuning.describe(c)) — measured here \(when) in \(String(format: "%.1f", c.tuningSeconds)) s (\(k.cache ?? "")): "
                + timings.joined(separator: " · ")
        case ("off", _):
            return "built-in defaults (POOLFAULT_TUNING=off)"
        default:
            return "built-in defaults, not measured on this machine yet (the first run on this device measures them; --retune measures now)"
        }
    }

    private func render(_ l: Listing) -> String {
        var lines = ["Vulkan devices (\(l.devices.count)):"]
        for d in l.devices {
            let mark = d.index == l.default ? "*" : " "
            lines.append("\(mark) \(d.index): \(d.name) — \(d.type.rawValue)\(d.isSoftware ? " (software)" : "")")
            lines.append("     vendor 0x\(String(d.vendorID, radix: 16)) device 0x\(String(d.deviceID, radix: 16)) · driver \(d.driverName) (\(d.driverInfo)) · Vulkan \(d.apiVersion)")
            lines.append("     UUID \(d.deviceUUID) · PCI bus \(d.pciBusID ?? "none (not a PCI device, or the driver does not say)")")
            if let twin = d.twinNote { lines.append("     \(twin): known to poolfault as \(d.identity)") }
            if let k = l.kernels.first(where: { $0.device == d.index }) { lines.append("     kernels: " + Self.render(k)) }
            for q in d.queueFamilies {
                lines.append("     queue family \(q.index): \(q.flags.joined(separator: ", ")) × \(q.count) (timestamps \(q.timestampValidBits) bits)")
            }
            for (i, h) in d.memoryHeaps.enumerated() {
                lines.append("     memory heap \(i): \(humanBytes(h.size))\(h.deviceLocal ? " device-local" : "")")
            }
            let lim = d.limits
            lines.append("     limits: storage buffer \(humanBytes(lim.maxStorageBufferRange)) · texel buffer \(lim.maxTexelBufferElements) elements · shared memory \(humanBytes(lim.maxComputeSharedMemorySize)) · subgroup \(lim.subgroupSize) · workgroup \(lim.maxComputeWorkGroupInvocations) invocations (\(lim.maxComputeWorkGroupSize.map(String.init).joined(separator: "×"))) · push constants \(lim.maxPushConstantsSize) B")
            lines.append("     features: timestamps \(d.timestamps ? "yes (\(lim.timestampPeriodNs) ns/tick)" : "no") · fp16 arithmetic \(d.shaderFloat16 ? "yes" : "no") · 16-bit storage \(d.storageBuffer16BitAccess ? "yes" : "no")")
        }
        lines.append("default: \(l.default) (\(l.reason))")
        if let width = LavapipeVectorWidth.applied, l.devices.contains(where: \.isSoftware) {
            lines.append("lavapipe runs \(width)-bit SIMD: poolfault's choice on this AVX-512 CPU (Mesa's default is 256; LP_NATIVE_VECTOR_WIDTH chooses)")
        }
        return lines.joined(separator: "\n")
    }
}
