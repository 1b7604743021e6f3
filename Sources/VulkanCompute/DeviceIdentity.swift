/// How poolfault names a physical device across processes and restarts. A device's UUID names
/// it where no other device has the same one; identical GPUs of one model may share it (and two
/// driver manifests for one software driver always do), so twins are told apart by their PCI
/// bus where that differs, and by their place among the twins otherwise. Every process that
/// enumerates the same drivers in the same order (a browser inherits the pool's environment)
/// names each device the same way.
extension PhysicalDeviceInfo {
    /// The identity of each of `devices` (in the driver's order, as enumerated).
    static func identities(of devices: [PhysicalDeviceInfo]) -> [String] {
        devices.map { device in
            let twins = devices.filter { $0.deviceUUID == device.deviceUUID }
            guard twins.count > 1 else { return device.deviceUUID }
            if let bus = device.pciBusID, twins.filter({ $0.pciBusID == bus }).count == 1 {
                return "\(device.deviceUUID)@\(bus)"
            }
            let place = twins.firstIndex { $0.index == device.index } ?? 0
            return "\(device.deviceUUID)#\(place)"
        }
    }

    /// Said where the identity is more than the UUID: why, and how this device is told apart.
    public var twinNote: String? {
        guard !identity.isEmpty, identity != deviceUUID else { return nil }
        return identity.contains("@") ? "UUID shared with another device: told apart by its PCI bus"
            : "UUID shared with another device: told apart by its place in the driver's order (\(identity.split(separator: "#").last ?? ""))"
    }
}
