import Shaders
import VulkanCompute

/// A 64-element vector add: the cheapest real dispatch that proves a context's queue, device
/// and pipelines answer (the pool's heartbeat, in-process or in a browser process).
public final class HeartbeatProbe: @unchecked Sendable {  // immutable after init
    private let kernel: Kernel
    private let a, b, c: DeviceBuffer

    public init(device: ComputeDevice) throws {
        kernel = try Kernel(device: device, source: ShaderLibrary.vectorAdd,
                            bindings: [.storageBuffer, .storageBuffer, .storageBuffer], pushConstantSize: 4)
        a = try DeviceBuffer(device: device, size: 256, label: "heartbeat.a")
        b = try DeviceBuffer(device: device, size: 256, label: "heartbeat.b")
        c = try DeviceBuffer(device: device, size: 256, label: "heartbeat.c")
    }

    public func beat(on channel: Channel, deadline: Duration) throws {
        try channel.run([.dispatch(Dispatch(kernel, buffers: [a, b, c], push: [64], groups: (1, 1, 1), label: "heartbeat"))],
                        label: "heartbeat", deadline: deadline)
    }
}
