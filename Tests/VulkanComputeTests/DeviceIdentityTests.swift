import Testing
@testable import VulkanCompute

/// Device identities on synthetic device lists: identical GPUs of one model share a UUID and
/// must still be told apart, by PCI bus where it differs, by their place otherwise.
extension GPUSuite { @Suite struct DeviceIdentityTests {
    static func device(_ index: Int, uuid: String, bus: String?) -> PhysicalDeviceInfo {
        PhysicalDeviceInfo(index: index, name: "GPU \(index)", type: .discrete, vendorID: 0, deviceID: 0, driverName: "", driverInfo: "",
                           apiVersion: "1.3.0", queueFamilies: [], memoryHeaps: [],
                           limits: .init(maxStorageBufferRange: 0, maxTexelBufferElements: 0, maxComputeSharedMemorySize: 0,
                                         maxComputeWorkGroupInvocations: 0, maxComputeWorkGroupSize: [], maxComputeWorkGroupCount: [],
                                         maxPushConstantsSize: 0, subgroupSize: 0, timestampPeriodNs: 1),
                           timestamps: true, shaderFloat16: false, storageBuffer16BitAccess: false, pipelineCacheUUID: "",
                           deviceUUID: uuid, pciBusID: bus)
    }

    // Test that a UUID of its own is the identity, that twins on different buses take the bus,
    // that twins on one bus (or none) take their place among the twins, and that every device
    // of a list gets an identity no other has.
    @Test func twinsAreToldApartByBusThenPlace() {
        let list = [Self.device(0, uuid: "A", bus: "0000:01:00.0"), Self.device(1, uuid: "B", bus: nil),
                    Self.device(2, uuid: "A", bus: "0000:41:00.0"), Self.device(3, uuid: "C", bus: nil),
                    Self.device(4, uuid: "C", bus: nil), Self.device(5, uuid: "D", bus: "0000:81:00.0"),
                    Self.device(6, uuid: "D", bus: "0000:81:00.0"), Self.device(7, uuid: "D", bus: "0000:82:00.0")]
        let ids = PhysicalDeviceInfo.identities(of: list)
        #expect(ids == ["A@0000:01:00.0", "B", "A@0000:41:00.0", "C#0", "C#1", "D#0", "D#1", "D@0000:82:00.0"])
        #expect(Set(ids).count == list.count)
        // Unique everywhere, whatever the order the driver lists them in.
        for shift in 1..<list.count {
            let rotated = Array(list[shift...] + list[..<shift]).enumerated().map { Self.device($0.offset, uuid: $0.element.deviceUUID, bus: $0.element.pciBusID) }
            #expect(Set(PhysicalDeviceInfo.identities(of: rotated)).count == list.count)
        }
        var one = Self.device(0, uuid: "A", bus: nil)
        one.identity = PhysicalDeviceInfo.identities(of: [one])[0]
        #expect(one.identity == "A" && one.twinNote == nil)
    }
} }
