import ArgumentParser
import ResourcePool
import VulkanCompute

/// `--devices all | I,J,… | NAME,…` and `--browsers-per-device N`: which physical device each
/// browser runs on. Browsers go round robin over the listed devices (a browser's contexts stay
/// on its device); with `--browsers-per-device N` the browser list is made N per device instead,
/// so a node with more GPUs than browsers has every GPU used.
struct DeviceSpread: Equatable {
    /// The browsers (distinct names in order; repeats make more contexts of one browser).
    let browsers: [String]
    /// Browser → physical device index.
    let devices: [String: Int]
    /// Said on stderr: devices left unused.
    let note: String?

    /// The devices `spec` names, by index. `all`: every hardware GPU, or every device when there
    /// is none (lavapipe alone). A name matches case-insensitively, as `--device` does.
    static func resolve(_ spec: String, among devices: [PhysicalDeviceInfo]) throws -> [Int] {
        let listing = devices.map { "\($0.index) (\($0.name))" }.joined(separator: ", ")
        let count = "this machine has \(devices.count) Vulkan device\(devices.count == 1 ? "" : "s"): \(listing)"
        if spec == "all" {
            let hardware = devices.filter { !$0.isSoftware }.map(\.index)
            return hardware.isEmpty ? devices.map(\.index) : hardware
        }
        let items = spec.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        return try items.map { item in
            if let i = Int(item) {
                guard devices.indices.contains(i) else { throw ValidationError("--devices \(spec): there is no device \(i); \(count)") }
                return i
            }
            guard !item.isEmpty, let match = devices.first(where: { $0.name.lowercased().contains(item.lowercased()) }) else {
                throw ValidationError("--devices \(spec): \(item.isEmpty ? "an empty entry" : "no device named '\(item)'"); \(count); give indices, names or all")
            }
            return match.index
        }
    }

    /// Places `browsers` on `devices`.
    static func assign(browsers: [String], devices: [Int], perDevice: Int?) -> DeviceSpread {
        var distinct: [String] = []
        for b in browsers where !distinct.contains(b) { distinct.append(b) }
        guard let perDevice else {
            var map: [String: Int] = [:]
            for (k, b) in distinct.enumerated() { map[b] = devices[k % devices.count] }
            let unused = devices.count > distinct.count ? Array(devices[distinct.count...]) : []
            let note = unused.isEmpty ? nil
                : "--devices lists \(devices.count) devices for \(distinct.count) browsers: device\(unused.count == 1 ? "" : "s") \(unused.map(String.init).joined(separator: ", ")) unused (--browsers-per-device N puts N browsers on each)"
            return DeviceSpread(browsers: browsers, devices: map, note: note)
        }
        // N per device: the browser names cycled, numbered after the first round ("chrome2").
        var names: [String] = [], map: [String: Int] = [:]
        for i in 0..<(perDevice * devices.count) {
            let base = distinct[i % distinct.count], round = i / distinct.count
            let name = round == 0 ? base : "\(base)\(round + 1)"
            names.append(name)
            map[name] = devices[i / perDevice]
        }
        return DeviceSpread(browsers: names, devices: map, note: nil)
    }
}
