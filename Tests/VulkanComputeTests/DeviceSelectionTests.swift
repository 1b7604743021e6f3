import Testing
@testable import VulkanCompute

/// Device choice, on synthetic device lists (no GPU needed) and on the real one.
extension GPUSuite { @Suite struct DeviceSelectionTests {
    static func device(_ index: Int, _ name: String, _ type: PhysicalDeviceInfo.Kind) -> PhysicalDeviceInfo {
        PhysicalDeviceInfo(index: index, name: name, type: type, vendorID: 0, deviceID: 0, driverName: "", driverInfo: "",
                           apiVersion: "1.3.0", queueFamilies: [], memoryHeaps: [],
                           limits: .init(maxStorageBufferRange: 0, maxTexelBufferElements: 0, maxComputeSharedMemorySize: 0,
                                         maxComputeWorkGroupInvocations: 0, maxComputeWorkGroupSize: [], maxComputeWorkGroupCount: [],
                                         maxPushConstantsSize: 0, subgroupSize: 0, timestampPeriodNs: 1),
                           timestamps: true, shaderFloat16: false, storageBuffer16BitAccess: false, pipelineCacheUUID: "",
                           deviceUUID: "00000000-0000-0000-0000-00000000000\(index)", pciBusID: nil)
    }

    let mixed = [device(0, "llvmpipe (LLVM 15)", .cpu), device(1, "Intel UHD", .integrated), device(2, "NVIDIA H100", .discrete)]

    @Test func prefersDiscreteThenIntegratedThenCPU() throws {
        #expect(try DeviceSelection().choose(from: mixed).index == 2)
        #expect(try DeviceSelection().choose(from: Array(mixed.prefix(2))).index == 1)
        let software = try DeviceSelection().choose(from: [mixed[0]])
        #expect(software.index == 0)
        #expect(software.reason.contains("no hardware GPU"))
    }

    @Test func lavapipeGets512BitsOnlyOnAVX512AndOnlyWhenTheUserHasNotChosen() {
        #expect(LavapipeVectorWidth.choice(userSetting: nil, cpuFlags: ["fma", "avx2", "avx512f"]) == 512)
        #expect(LavapipeVectorWidth.choice(userSetting: nil, cpuFlags: ["fma", "avx2"]) == nil)
        #expect(LavapipeVectorWidth.choice(userSetting: "256", cpuFlags: ["avx512f"]) == nil)
        #expect(LavapipeVectorWidth.choice(userSetting: nil, cpuFlags: []) == nil)
    }

    @Test func deviceFlagTakesAnIndexOrAName() throws {
        #expect(try DeviceSelection(device: "0").choose(from: mixed).index == 0)
        #expect(try DeviceSelection(device: "intel").choose(from: mixed).index == 1)
    }

    @Test func unknownDeviceListsTheDevices() {
        #expect(performing: { try DeviceSelection(device: "7").choose(from: mixed) }, throws: { error in
            guard case .deviceSelection(let text) = error as? VulkanError else { return false }
            return text.contains("no device with index 7") && text.contains("NVIDIA H100") && text.contains("llvmpipe")
        })
        #expect(throws: VulkanError.self) { try DeviceSelection(device: "radeon").choose(from: mixed) }
    }

    @Test func requireGPURefusesSoftware() throws {
        #expect(performing: { try DeviceSelection(requireGPU: true).choose(from: [mixed[0]]) }, throws: { error in
            if case .gpuRequired = error as? VulkanError { return true }
            return false
        })
        #expect(try DeviceSelection(requireGPU: true).choose(from: mixed).index == 2)
    }

    @Test func theRealDeviceListHasADefault() throws {
        let (instance, physical) = try GPU.open()
        #expect(!physical.info.name.isEmpty)
        #expect(physical.info.computeFamily != nil)
        #expect(physical.info.limits.maxStorageBufferRange > 0)
        GPU.expectClean(instance)
    }
}
}
