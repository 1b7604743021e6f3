import Foundation
import Shaders
import Testing
@testable import VulkanCompute

/// What a fault leaves behind, one entry point at a time (after Dawn's DeviceLostTests): every
/// later call fails with a typed error, nothing crashes or hangs, and the validation layer
/// stays silent.
extension GPUSuite { @Suite struct TeardownTests {
    /// A device with a channel, a kernel and three buffers for vector add.
    struct Rig {
        let device: ComputeDevice
        let channel: Channel
        let kernel: Kernel
        let a: DeviceBuffer, b: DeviceBuffer, c: DeviceBuffer
        let n = 256

        init(_ physical: PhysicalDevice) throws {
            device = try ComputeDevice(physical: physical, label: "rig")
            channel = try Channel(device: device, label: "rig")
            kernel = try Kernel(device: device, source: ShaderLibrary.vectorAdd,
                                bindings: [.storageBuffer, .storageBuffer, .storageBuffer], pushConstantSize: 4)
            a = try DeviceBuffer(device: device, size: n * 4, label: "a")
            b = try DeviceBuffer(device: device, size: n * 4, label: "b")
            c = try DeviceBuffer(device: device, size: n * 4, label: "c")
            try a.write((0..<n).map(Float.init), via: channel)
            try b.write([Float](repeating: 1, count: n), via: channel)
        }

        var add: BatchStep {
            .dispatch(Dispatch(kernel, buffers: [a, b, c], push: [UInt32(n)], groups: (groupCount(n, 64), 1, 1)))
        }
    }

    static func isDeviceLost(_ error: any Error) -> Bool {
        if case .deviceLost = error as? VulkanError { return true }
        return false
    }

    static func isQueueLost(_ error: any Error) -> Bool {
        if case .queueLost = error as? VulkanError { return true }
        return false
    }

    // Test that after the device is destroyed every entry point throws deviceLost.
    @Test func afterDeviceDestroyEveryCallFailsCleanly() throws {
        let (instance, physical) = try GPU.open()
        do {
            let rig = try Rig(physical)
            let batch = try rig.channel.record([rig.add])
            // device, pipeline cache, pool, fence, 3 × (buffer, memory), 3 kernel objects, batch's descriptor pool
            #expect(ObjectCensus.live(ownedBy: rig.device) >= 12)
            rig.device.destroy(reason: "simulated browser crash")
            #expect(!rig.device.isAlive)
            #expect(performing: { try rig.channel.submit(batch) }, throws: Self.isDeviceLost)
            #expect(performing: { try rig.channel.run([rig.add]) }, throws: Self.isDeviceLost)
            #expect(performing: { try rig.a.write([1, 2, 3]) }, throws: Self.isDeviceLost)
            #expect(performing: { _ = try rig.c.readFloats(4) }, throws: Self.isDeviceLost)
            #expect(performing: { try rig.channel.reconnect() }, throws: Self.isDeviceLost)
            #expect(performing: { _ = try DeviceBuffer(device: rig.device, size: 64, label: "late") }, throws: Self.isDeviceLost)
            #expect(performing: {
                _ = try Kernel(device: rig.device, source: ShaderLibrary.vectorAdd, bindings: [.storageBuffer], pushConstantSize: 4)
            }, throws: Self.isDeviceLost)
            #expect(!rig.channel.isConnected)
            #expect(rig.device.lossReason?.contains("simulated browser crash") == true)
            #expect(ObjectCensus.live(ownedBy: rig.device) == 0, "destroy released every object")
        }
        GPU.expectClean(instance)
    }

    // Test that a dropped channel loses its batches but not the device's buffers or kernels.
    @Test func droppedChannelReconnectsWithBuffersIntact() throws {
        let (instance, physical) = try GPU.open()
        do {
            let rig = try Rig(physical)
            let batch = try rig.channel.record([rig.add])
            try rig.channel.submit(batch)
            rig.channel.drop(reason: "simulated connection loss")
            #expect(!rig.channel.isConnected)
            #expect(performing: { try rig.channel.submit(batch) }, throws: Self.isQueueLost)
            #expect(performing: { try rig.channel.run([rig.add]) }, throws: Self.isQueueLost)
            #expect(rig.device.isAlive)
            #expect(rig.kernel.isLive)

            try rig.channel.reconnect()
            // The old batch belongs to the dropped connection: it must be recorded again.
            #expect(performing: { try rig.channel.submit(batch) }, throws: Self.isQueueLost)
            let expected = (0..<rig.n).map { Float($0) + 1 }
            #expect(try rig.c.readFloats(rig.n, via: rig.channel) == expected, "buffers keep their data")
            try rig.b.write([Float](repeating: 2, count: rig.n), via: rig.channel)
            try rig.channel.run([rig.add])
            #expect(try rig.c.readFloats(rig.n, via: rig.channel) == (0..<rig.n).map { Float($0) + 2 })
        }
        GPU.expectClean(instance)
    }

    // Test that a released kernel (a component failure) fails its dispatches with a typed error.
    @Test func releasedKernelFailsItsDispatches() throws {
        let (instance, physical) = try GPU.open()
        do {
            let rig = try Rig(physical)
            rig.kernel.release()
            #expect(performing: { try rig.channel.run([rig.add]) }, throws: Self.isDeviceLost)
            try rig.channel.run([.copy(from: rig.a, to: rig.c, bytes: 16)])  // the channel still works
        }
        GPU.expectClean(instance)
    }

    // Test that a wait outlasting its deadline throws timeout, and the channel recovers.
    @Test func aWaitDeadlineFires() throws {
        let (instance, physical) = try GPU.open()
        do {
            let device = try ComputeDevice(physical: physical, label: "spin")
            let channel = try Channel(device: device, label: "spin", timeout: .milliseconds(2))
            let out = try DeviceBuffer(device: device, size: 4096 * 4, label: "out")
            let kernel = try Kernel(device: device, source: ShaderLibrary.spin, bindings: [.storageBuffer], pushConstantSize: 4)
            // ~4096 × 200k dependent steps: far beyond 2 ms on any device, well under a second on lavapipe.
            let spin = BatchStep.dispatch(Dispatch(kernel, buffers: [out], push: [200_000], groups: (64, 1, 1)))
            let start = ContinuousClock.now
            #expect(performing: { try channel.run([spin]) }, throws: { error in
                if case .timeout = error as? VulkanError { return true }
                return false
            })
            #expect(ContinuousClock.now - start < .seconds(1), "the wait returned at its deadline")
            channel.timeout = .seconds(30)
            try channel.waitIdle()
            try channel.run([.copy(from: out, to: out, bytes: 4, sourceOffset: 0, destinationOffset: 8)])
        }
        GPU.expectClean(instance)
    }

    // Test that 20 crash/rebuild cycles leave no Vulkan object behind.
    @Test func crashRebuildCyclesLeakNothing() throws {
        let (instance, physical) = try GPU.open()
        for cycle in 0..<20 {
            let rig = try Rig(physical)
            try rig.channel.run([rig.add])
            if cycle.isMultiple(of: 2) {
                let live = ObjectCensus.live(ownedBy: rig.device)
                rig.channel.drop(reason: "cycle")
                try rig.channel.reconnect()
                try rig.channel.run([rig.add])
                #expect(ObjectCensus.live(ownedBy: rig.device) == live, "a reconnect replaces the pool and fence, no more")
            }
            rig.device.destroy(reason: "cycle \(cycle)")
            #expect(ObjectCensus.live(ownedBy: rig.device) == 0, "cycle \(cycle) left objects behind")
        }
        GPU.expectClean(instance)
    }
}
}
