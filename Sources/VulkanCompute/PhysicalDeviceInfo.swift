import CVulkan

/// What one physical device is and can do: everything `poolfault devices` reports.
public struct PhysicalDeviceInfo: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable { case discrete, integrated, virtual, cpu, other }

    public struct QueueFamily: Sendable, Codable, Equatable {
        public let index: Int
        public let flags: [String]
        public let count: Int
        public let timestampValidBits: Int
    }

    public struct MemoryHeap: Sendable, Codable, Equatable {
        public let size: UInt64
        public let deviceLocal: Bool
    }

    public struct Limits: Sendable, Codable, Equatable {
        public let maxStorageBufferRange: UInt64
        public let maxTexelBufferElements: UInt64
        public let maxComputeSharedMemorySize: UInt64
        public let maxComputeWorkGroupInvocations: UInt64
        public let maxComputeWorkGroupSize: [UInt64]
        public let maxComputeWorkGroupCount: [UInt64]
        public let maxPushConstantsSize: UInt64
        public let subgroupSize: UInt64
        public let timestampPeriodNs: Double
    }

    public let index: Int
    public let name: String
    public let type: Kind
    public let vendorID: UInt32
    public let deviceID: UInt32
    public let driverName: String
    public let driverInfo: String
    public let apiVersion: String
    public let queueFamilies: [QueueFamily]
    public let memoryHeaps: [MemoryHeap]
    public let limits: Limits
    public let timestamps: Bool
    public let shaderFloat16: Bool
    public let storageBuffer16BitAccess: Bool
    /// Identifies the driver build; the host-side pipeline cache is keyed by it.
    public let pipelineCacheUUID: String
    /// The device's own UUID (VkPhysicalDeviceIDProperties, 8-4-4-4-12 hex): what nvidia-smi's
    /// GPU UUID and DCGM identify a GPU by. Stable across processes and restarts.
    public let deviceUUID: String
    /// The PCI address, "dddd:bb:dd.f", where the driver reports it (VK_EXT_pci_bus_info);
    /// nil for software devices.
    public let pciBusID: String?
    /// What names this device across processes: its UUID, or more where another device shares
    /// it (`identities(of:)`). Set when the devices are enumerated.
    public internal(set) var identity: String = ""
    /// Whether the driver can use host memory as device memory (VK_EXT_external_memory_host):
    /// weights are then imported from shared pages instead of copied. Nil in reports written
    /// before poolfault asked.
    public internal(set) var hostMemoryImport: Bool?
    /// The alignment an imported host range must have (minImportedHostPointerAlignment).
    public internal(set) var hostImportAlignment: Int?

    /// A software rasteriser (lavapipe/llvmpipe, SwiftShader): never a hardware GPU.
    public var isSoftware: Bool { type == .cpu }

    /// The first queue family with compute, and how many queues it offers.
    public var computeFamily: QueueFamily? { queueFamilies.first { $0.flags.contains("compute") } }

    /// A device that is no Vulkan device: what a pool on scripted engines reports (tests and the
    /// schedule simulator, which need no driver).
    public static func scripted(name: String) -> PhysicalDeviceInfo {
        var info = PhysicalDeviceInfo(
            index: 0, name: name, type: .cpu, vendorID: 0, deviceID: 0, driverName: "scripted", driverInfo: "no driver",
            apiVersion: "-", queueFamilies: [QueueFamily(index: 0, flags: ["compute"], count: 1, timestampValidBits: 0)],
            memoryHeaps: [], limits: Limits(maxStorageBufferRange: 0, maxTexelBufferElements: 0, maxComputeSharedMemorySize: 0,
                                            maxComputeWorkGroupInvocations: 0, maxComputeWorkGroupSize: [], maxComputeWorkGroupCount: [],
                                            maxPushConstantsSize: 0, subgroupSize: 0, timestampPeriodNs: 0),
            timestamps: false, shaderFloat16: false, storageBuffer16BitAccess: false, pipelineCacheUUID: "", deviceUUID: "scripted",
            pciBusID: nil)
        info.identity = "scripted"
        return info
    }
}

/// A physical device of an instance, with its queried info.
public struct PhysicalDevice: @unchecked Sendable {  // the handle lives as long as `instance`
    public let instance: VulkanInstance
    let handle: VkPhysicalDevice
    public internal(set) var info: PhysicalDeviceInfo
    let memory: VkPhysicalDeviceMemoryProperties

    init(instance: VulkanInstance, handle: VkPhysicalDevice, index: Int) {
        self.instance = instance
        self.handle = handle
        let fns = instance.functions
        var memory = VkPhysicalDeviceMemoryProperties()
        fns.getPhysicalDeviceMemoryProperties(handle, &memory)
        self.memory = memory
        info = PhysicalDevice.query(fns, handle, index: index, memory: memory)
    }

    static let hostImportExtension = "VK_EXT_external_memory_host"

    /// Whether this device's memory can be imported from host pages (see `DeviceBuffer(importing:)`).
    var offersHostImport: Bool { info.hostMemoryImport == true && (info.hostImportAlignment ?? 0) > 0 }

    private static func query(_ fns: InstanceFunctions, _ handle: VkPhysicalDevice, index: Int,
                              memory: VkPhysicalDeviceMemoryProperties) -> PhysicalDeviceInfo {
        var driver = VkPhysicalDeviceDriverProperties()
        driver.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES
        var subgroup = VkPhysicalDeviceSubgroupProperties()
        subgroup.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES
        var ids = VkPhysicalDeviceIDProperties()
        ids.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES
        // Chained only where the extension is there: an unknown struct in the chain is invalid use.
        let extensions = deviceExtensions(fns, handle)
        let hasPCI = extensions.contains("VK_EXT_pci_bus_info"), hasHostImport = extensions.contains(hostImportExtension)
        var pci = VkPhysicalDevicePCIBusInfoPropertiesEXT()
        pci.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PCI_BUS_INFO_PROPERTIES_EXT
        var host = VkPhysicalDeviceExternalMemoryHostPropertiesEXT()
        host.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_MEMORY_HOST_PROPERTIES_EXT
        var props2 = VkPhysicalDeviceProperties2()
        props2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2
        // props2 → driver → subgroup → ids → pci → host, the last two where their extensions are.
        withUnsafeMutablePointer(to: &host) { hp in
            withUnsafeMutablePointer(to: &pci) { pp in
                let hostLink = hasHostImport ? UnsafeMutableRawPointer(hp) : nil
                pp.pointee.pNext = hostLink
                ids.pNext = hasPCI ? UnsafeMutableRawPointer(pp) : hostLink
                withUnsafeMutablePointer(to: &ids) { ip in
                    subgroup.pNext = UnsafeMutableRawPointer(ip)
                    withUnsafeMutablePointer(to: &subgroup) { sp in
                        driver.pNext = UnsafeMutableRawPointer(sp)
                        withUnsafeMutablePointer(to: &driver) { dp in
                            props2.pNext = UnsafeMutableRawPointer(dp)
                            fns.getPhysicalDeviceProperties2(handle, &props2)
                        }
                    }
                }
            }
        }
        let uuidHex = withUnsafeBytes(of: ids.deviceUUID) { raw in raw.map { String(format: "%02x", $0) }.joined() }
        let uuid = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { r in
            String(uuidHex[uuidHex.index(uuidHex.startIndex, offsetBy: r.lowerBound)..<uuidHex.index(uuidHex.startIndex, offsetBy: r.upperBound)])
        }.joined(separator: "-")
        let busID = hasPCI ? String(format: "%04x:%02x:%02x.%x", pci.pciDomain, pci.pciBus, pci.pciDevice, pci.pciFunction) : nil
        var f16 = VkPhysicalDeviceShaderFloat16Int8Features()
        f16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES
        var storage16 = VkPhysicalDevice16BitStorageFeatures()
        storage16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES
        var features2 = VkPhysicalDeviceFeatures2()
        features2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2
        withUnsafeMutablePointer(to: &storage16) { sp in
            f16.pNext = UnsafeMutableRawPointer(sp)
            withUnsafeMutablePointer(to: &f16) { fp in
                features2.pNext = UnsafeMutableRawPointer(fp)
                fns.getPhysicalDeviceFeatures2(handle, &features2)
            }
        }
        var familyCount: UInt32 = 0
        fns.getPhysicalDeviceQueueFamilyProperties(handle, &familyCount, nil)
        var families = [VkQueueFamilyProperties](repeating: VkQueueFamilyProperties(), count: Int(familyCount))
        fns.getPhysicalDeviceQueueFamilyProperties(handle, &familyCount, &families)

        let p = props2.properties
        let l = p.limits
        let heaps = withUnsafeBytes(of: memory.memoryHeaps) { raw in
            Array(raw.bindMemory(to: VkMemoryHeap.self).prefix(Int(memory.memoryHeapCount)))
        }
        var info = PhysicalDeviceInfo(
            index: index,
            name: string(fromCTuple: p.deviceName),
            type: kind(p.deviceType),
            vendorID: p.vendorID,
            deviceID: p.deviceID,
            driverName: string(fromCTuple: driver.driverName),
            driverInfo: string(fromCTuple: driver.driverInfo),
            apiVersion: versionString(p.apiVersion),
            queueFamilies: families.enumerated().map { i, f in
                .init(index: i, flags: queueFlags(f.queueFlags), count: Int(f.queueCount),
                      timestampValidBits: Int(f.timestampValidBits))
            },
            memoryHeaps: heaps.map {
                .init(size: $0.size, deviceLocal: ($0.flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT.rawValue) != 0)
            },
            limits: .init(
                maxStorageBufferRange: UInt64(l.maxStorageBufferRange),
                maxTexelBufferElements: UInt64(l.maxTexelBufferElements),
                maxComputeSharedMemorySize: UInt64(l.maxComputeSharedMemorySize),
                maxComputeWorkGroupInvocations: UInt64(l.maxComputeWorkGroupInvocations),
                maxComputeWorkGroupSize: [l.maxComputeWorkGroupSize.0, l.maxComputeWorkGroupSize.1, l.maxComputeWorkGroupSize.2].map(UInt64.init),
                maxComputeWorkGroupCount: [l.maxComputeWorkGroupCount.0, l.maxComputeWorkGroupCount.1, l.maxComputeWorkGroupCount.2].map(UInt64.init),
                maxPushConstantsSize: UInt64(l.maxPushConstantsSize),
                subgroupSize: UInt64(subgroup.subgroupSize),
                timestampPeriodNs: Double(l.timestampPeriod)),
            timestamps: l.timestampComputeAndGraphics != 0,
            shaderFloat16: f16.shaderFloat16 != 0,
            storageBuffer16BitAccess: storage16.storageBuffer16BitAccess != 0,
            pipelineCacheUUID: withUnsafeBytes(of: p.pipelineCacheUUID) { raw in
                raw.map { String(format: "%02x", $0) }.joined()
            },
            deviceUUID: uuid,
            pciBusID: busID)
        info.hostMemoryImport = hasHostImport
        info.hostImportAlignment = hasHostImport ? Int(host.minImportedHostPointerAlignment) : nil
        return info
    }

    /// The device extensions the driver offers.
    private static func deviceExtensions(_ fns: InstanceFunctions, _ handle: VkPhysicalDevice) -> Set<String> {
        var count: UInt32 = 0
        guard fns.enumerateDeviceExtensionProperties(handle, nil, &count, nil) == VK_SUCCESS, count > 0 else { return [] }
        var list = [VkExtensionProperties](repeating: VkExtensionProperties(), count: Int(count))
        guard fns.enumerateDeviceExtensionProperties(handle, nil, &count, &list) == VK_SUCCESS else { return [] }
        return Set(list.prefix(Int(count)).map { string(fromCTuple: $0.extensionName) })
    }

    private static func kind(_ t: VkPhysicalDeviceType) -> PhysicalDeviceInfo.Kind {
        switch t {
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return .discrete
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return .integrated
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return .virtual
        case VK_PHYSICAL_DEVICE_TYPE_CPU: return .cpu
        default: return .other
        }
    }

    private static func queueFlags(_ flags: VkQueueFlags) -> [String] {
        let names: [(VkQueueFlagBits, String)] = [
            (VK_QUEUE_GRAPHICS_BIT, "graphics"), (VK_QUEUE_COMPUTE_BIT, "compute"),
            (VK_QUEUE_TRANSFER_BIT, "transfer"), (VK_QUEUE_SPARSE_BINDING_BIT, "sparse_binding"),
        ]
        return names.filter { flags & $0.0.rawValue != 0 }.map(\.1)
    }
}
