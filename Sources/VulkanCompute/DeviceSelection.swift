/// Which physical device poolfault runs on: the best hardware GPU by default, lavapipe when
/// there is none, or what `--device INDEX|NAME` names. `requireGPU` turns a software-only
/// machine into an error, so a hardware validation run never passes silently on lavapipe.
public struct DeviceSelection: Sendable, Equatable {
    public enum Choice: Sendable, Equatable { case automatic, index(Int), name(String) }
    public var choice: Choice
    public var requireGPU: Bool

    public init(choice: Choice = .automatic, requireGPU: Bool = false) {
        self.choice = choice
        self.requireGPU = requireGPU
    }

    /// Parses a `--device` value: a number is an index, anything else a name (substring,
    /// case-insensitive).
    public init(device: String?, requireGPU: Bool = false) {
        let choice: Choice = device.map { Int($0).map(Choice.index) ?? .name($0) } ?? .automatic
        self.init(choice: choice, requireGPU: requireGPU)
    }

    /// The chosen device and a one-line reason.
    public func choose(from devices: [PhysicalDeviceInfo]) throws -> (index: Int, reason: String) {
        let listing = devices.map { "\($0.index): \($0.name) (\($0.type.rawValue))" }.joined(separator: "; ")
        let chosen: PhysicalDeviceInfo
        let reason: String
        switch choice {
        case .automatic:
            guard let best = devices.min(by: { rank($0) < rank($1) }) else {
                throw VulkanError.noDriver("no physical device")
            }
            chosen = best
            reason = best.isSoftware
                ? "no hardware GPU found: using \(best.name), a software Vulkan driver"
                : "the first \(best.type.rawValue) GPU"
        case .index(let i):
            guard let d = devices.first(where: { $0.index == i }) else {
                throw VulkanError.deviceSelection("no device with index \(i); the devices are \(listing)")
            }
            chosen = d
            reason = "selected by --device \(i)"
        case .name(let n):
            guard let d = devices.first(where: { $0.name.localizedLowercase.contains(n.lowercased()) }) else {
                throw VulkanError.deviceSelection("no device named '\(n)'; the devices are \(listing)")
            }
            chosen = d
            reason = "selected by --device \(n)"
        }
        if requireGPU && chosen.isSoftware {
            throw VulkanError.gpuRequired(
                "--require-gpu: \(chosen.name) is a software driver, not a GPU; the devices are \(listing)")
        }
        return (chosen.index, reason)
    }

    /// A fresh query's choice for a browser that starts (or restarts): its own device, found by
    /// `identity`, while it is still there; else the selection's, with a note saying so. The
    /// pool's process and a browser process both choose through here.
    public func choose(among devices: [PhysicalDevice], identity: String?) throws -> (device: PhysicalDevice, note: String?) {
        if let identity, let own = devices.first(where: { $0.info.identity == identity }) { return (own, nil) }
        let chosen = devices[try choose(from: devices.map(\.info)).index]
        return (chosen, identity.map { "device \($0) is gone: rebuilt on \(chosen.info.index): \(chosen.info.name)" })
    }

    /// Discrete before integrated before virtual before CPU; the driver's order breaks ties.
    private func rank(_ d: PhysicalDeviceInfo) -> Int {
        let order: [PhysicalDeviceInfo.Kind] = [.discrete, .integrated, .virtual, .cpu, .other]
        return (order.firstIndex(of: d.type) ?? order.count) * 1000 + d.index
    }
}
