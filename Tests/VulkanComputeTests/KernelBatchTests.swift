import Foundation
import Shaders
import Testing
@testable import VulkanCompute

/// Kernels built side by side under one hold of the device lock (`KernelBatch`), validation on
/// (a builder that broke Vulkan's threading rules would be a message).
extension GPUSuite { @Suite struct KernelBatchTests {
    static let bindings: [BindingKind] = [.storageBuffer, .storageBuffer, .storageBuffer]

    /// A batch of `count` vector adds, each variant its own define (a pipeline each).
    static func batch(on device: ComputeDevice, count: Int, tag: String) throws -> (KernelBatch, [Kernel]) {
        let batch = KernelBatch(device: device)
        let kernels = try (0..<count).map {
            try batch.add(ShaderLibrary.vectorAdd, bindings: bindings, pushConstantSize: 4, defines: ["BATCH_\(tag)_\($0)": "1"])
        }
        return (batch, kernels)
    }

    // Test that every kernel of a batch is built, adopted by its device (released with it) and
    // computes, and that nothing is built before `build`.
    @Test func everyKernelOfABatchIsBuiltAndComputes() throws {
        let (instance, physical) = try GPU.open()
        do {
            let device = try ComputeDevice(physical: physical, label: "batch")
            let channel = try Channel(device: device, label: "batch")
            let (batch, kernels) = try Self.batch(on: device, count: 6, tag: "ok")
            #expect(kernels.allSatisfy { !$0.isLive }, "nothing built before build()")
            let seconds = try batch.build()
            #expect(seconds > 0 && kernels.allSatisfy(\.isLive))
            let census = ObjectCensus.live(ownedBy: device)
            #expect(try batch.build() == 0 && ObjectCensus.live(ownedBy: device) == census, "a second build builds nothing")
            let n = 100
            let a = (0..<n).map(Float.init), b = (0..<n).map { Float(2 * $0) }
            let ba = try DeviceBuffer(device: device, size: n * 4, label: "a")
            let bb = try DeviceBuffer(device: device, size: n * 4, label: "b")
            try ba.write(a, via: channel)
            try bb.write(b, via: channel)
            for kernel in kernels {
                let bc = try DeviceBuffer(device: device, size: n * 4, label: "c")
                _ = try channel.run([.dispatch(Dispatch(kernel, buffers: [ba, bb, bc], push: [UInt32(n)], groups: (groupCount(n, 64), 1, 1)))])
                #expect(try bc.readFloats(n, via: channel) == zip(a, b).map(+))
            }
            device.destroy(reason: "test")
            #expect(kernels.allSatisfy { !$0.isLive }, "the device released the batch's kernels")
            #expect(ObjectCensus.live(ownedBy: device) == 0)
        }
        GPU.expectClean(instance)
    }

    // Test that a batch on a destroyed device throws the device's loss, naming the batch, and
    // leaves nothing behind.
    @Test func aBatchOnADestroyedDeviceThrowsItsLoss() throws {
        let (instance, physical) = try GPU.open()
        do {
            let device = try ComputeDevice(physical: physical, label: "gone")
            let (batch, kernels) = try Self.batch(on: device, count: 3, tag: "gone")
            device.destroy(reason: "test")
            #expect {
                try batch.build()
            } throws: { error in
                guard case VulkanError.deviceLost(let message) = error else { return false }
                return message.contains("create 3 kernels") && message.contains("destroyed")
            }
            #expect(kernels.allSatisfy { !$0.isLive })
            #expect(ObjectCensus.live(ownedBy: device) == 0)
        }
        GPU.expectClean(instance)
    }

    // Test that a teardown racing a batch's build never meets a half-built batch: the build
    // ends first (its kernels adopted, then released by the teardown) or after (it throws the
    // loss), at every moment the teardown may come; nothing is left and the layer says nothing.
    @Test func aTeardownDuringABuildWaitsForItOrComesFirst() throws {
        let (instance, physical) = try GPU.open()
        for round in 0..<12 {
            let device = try ComputeDevice(physical: physical, label: "race \(round)")
            let (batch, kernels) = try Self.batch(on: device, count: 12, tag: "race\(round)")
            let started = DispatchSemaphore(value: 0), ended = DispatchSemaphore(value: 0)
            let teardown = Thread {
                started.wait()
                usleep(UInt32(round * 300))  // not a stand-in for work: spreads the teardown over the build
                device.destroy(reason: "race")
                ended.signal()
            }
            teardown.start()
            started.signal()
            do {
                try batch.build()
            } catch VulkanError.deviceLost(let message) {
                #expect(message.contains("create 12 kernels"), "\(message)")
            }
            ended.wait()  // the teardown always ends: a build it waits for is bounded
            #expect(kernels.allSatisfy { !$0.isLive })
            #expect(ObjectCensus.live(ownedBy: device) == 0)
        }
        GPU.expectClean(instance)
    }
}}
