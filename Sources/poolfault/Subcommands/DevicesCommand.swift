import ArgumentParser
import Foundation
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
    }

    func run() throws {
        try reportingErrors {
            let instance = try VulkanInstance(validation: options.validate || VulkanInstance.validationRequestedByEnvironment)
            let infos = try instance.physicalDevices().map(\.info)
            let (index, reason) = try options.selection.choose(from: infos)
            let listing = Listing(devices: infos, default: index, reason: reason, validation: instance.validationLog != nil)
            print(json ? try jsonString(listing) : render(listing))
            try finishValidation(instance)
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
