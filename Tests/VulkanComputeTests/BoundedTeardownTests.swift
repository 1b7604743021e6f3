import Foundation
import Testing
@testable import VulkanCompute

/// Nothing outlasts its deadline, teardown included: a device whose queue still runs work past
/// the deadline is given up (abandoned) within it, instead of blocking in vkDeviceWaitIdle.
extension GPUSuite { @Suite struct BoundedTeardownTests {
    /// 16,384 workgroups of 1,024 invocations, each looping up to 65,000 times (llvmpipe caps an
    /// invocation at 65,535 back-edges, so the length comes from the workgroups): hours of work
    /// on two cores, unless the host sets `stop`, which every iteration reads.
    static let spin = testShader("spin.comp", """
        #version 450
        layout(local_size_x = 1024) in;
        layout(std430, binding = 0) coherent volatile buffer Flag { uint stop; };
        layout(std430, binding = 1) buffer Out { float v[]; };
        void main() {
            float x = float(gl_LocalInvocationID.x);
            for (uint i = 0u; i < 65000u; i++) {
                if (stop != 0u) break;
                x = x * 1.0000001 + 1.0;
            }
            if (gl_LocalInvocationID.x == 0u) v[gl_WorkGroupID.x % 64u] = x;
        }
        """)

    // Test that destroying a device whose dispatch still runs returns within the deadline,
    // reports the device abandoned, and that the driver finishes the teardown once the work ends.
    @Test func aDeviceStillRunningWorkIsAbandonedWithinTheDeadline() throws {
        let (instance, physical) = try GPU.open()
        let device = try ComputeDevice(physical: physical, label: "spinner")
        let channel = try Channel(device: device, label: "spinner", timeout: .milliseconds(200))
        let flag = try DeviceBuffer(device: device, size: 4, label: "flag")
        let out = try DeviceBuffer(device: device, size: 64 * 4, label: "out")
        try flag.write([0] as [Float])
        let stop = try #require(flag.hostPointer, "lavapipe maps device memory")
        let kernel = try Kernel(device: device, source: Self.spin, bindings: [.storageBuffer, .storageBuffer], pushConstantSize: 0)
        let step = BatchStep.dispatch(Dispatch(kernel, buffers: [flag, out], push: [], groups: (16_384, 1, 1)))

        // A watchdog releases the work after 60 s whatever happens, so a regression fails
        // instead of hanging the suite; the check below is that teardown returned before it.
        let released = ReleaseFlag(stop)
        let watchdog = Thread { Thread.sleep(forTimeInterval: 60); released.release() }
        watchdog.start()

        #expect(throws: VulkanError.self) { try channel.run([step]) }  // the 0.2 s wait times out
        let start = ContinuousClock.now
        device.destroy(reason: "test", deadline: .milliseconds(500))
        let took = (ContinuousClock.now - start).seconds
        let releasedBeforeTeardownReturned = released.isReleased
        #expect(!releasedBeforeTeardownReturned, "teardown waited for the work (\(took) s)")
        #expect(!device.isAlive)
        #expect(device.lossReason?.contains("abandoned") == true, "\(device.lossReason ?? "alive")")
        #expect(ComputeDevice.abandonedCount >= 1)
        #expect(throws: VulkanError.self) { try channel.run([step]) }  // every later call: a typed loss

        released.release()  // the work ends; the driver's teardown can finish
        let drainStart = ContinuousClock.now
        while ComputeDevice.abandonedCount > 0, (ContinuousClock.now - drainStart) < .seconds(120) { Thread.sleep(forTimeInterval: 0.01) }
        #expect(ComputeDevice.abandonedCount == 0, "the abandoned device was destroyed once its work ended")
        // The only messages allowed: the abandoned device's objects were left to vkDestroyDevice.
        let messages = instance.validationLog?.drain() ?? []
        let other = messages.filter { !$0.description.contains("vkDestroyDevice") }
        #expect(other.isEmpty, "validation: \(other.map(\.description))")
    }

    // Test that an idle device is still torn down in full (no abandonment, nothing left alive).
    @Test func anIdleDeviceIsDestroyedInFull() throws {
        let (instance, physical) = try GPU.open()
        let device = try ComputeDevice(physical: physical, label: "idle")
        let channel = try Channel(device: device, label: "idle")
        _ = channel
        device.destroy(reason: "test", deadline: .milliseconds(1))
        #expect(device.lossReason?.contains("destroyed") == true)
        #expect(ObjectCensus.live(ownedBy: device) == 0)
        GPU.expectClean(instance)
    }
}}

/// The stop flag of the spinning shader, set once.
final class ReleaseFlag: @unchecked Sendable {  // `done` under `lock`; the pointer is written once
    private let lock = NSLock()
    private var done = false
    private let pointer: UnsafeMutableRawPointer

    init(_ pointer: UnsafeMutableRawPointer) { self.pointer = pointer }

    var isReleased: Bool { lock.withLock { done } }

    func release() {
        lock.withLock {
            guard !done else { return }
            done = true
            pointer.storeBytes(of: 1, as: UInt32.self)
        }
    }
}
