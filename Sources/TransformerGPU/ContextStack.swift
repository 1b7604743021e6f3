import Transformer
import VulkanCompute

/// One context's GPU objects on a device: its channel (a queue), the pipelines, the model's
/// buffers and the heartbeat. Assembled here, once, for both isolations: in the pool's own
/// process (thread isolation) and in a browser process, so the two cannot drift apart.
public final class ContextStack: @unchecked Sendable {  // immutable after init
    public let device: ComputeDevice
    public let channel: Channel
    public let kernels: GPUKernels
    public let model: GPUModelContext
    private let probe: HeartbeatProbe

    /// `step` runs each named start step (`queue_creation`, `pipeline_creation`) and times it on
    /// the caller's clock (the pool's, or the worker's, which reports it over the socket).
    /// `image`: the pool's weights in kernel layout, imported where the device can (see `WeightImage`).
    public init(device: ComputeDevice, queue: Int, config: ModelConfig, integrity: IntegrityChecks, label: String,
                image: WeightImage? = nil, step: (String, () throws -> Void) throws -> Void = { _, body in try body() }) throws {
        self.device = device
        var channel: Channel?
        var kernels: GPUKernels?
        try step("queue_creation") { channel = try Channel(device: device, queueIndex: queue, label: label) }
        try step("pipeline_creation") { kernels = try GPUKernels(device: device, config: config, integrity: integrity) }
        guard let channel, let kernels else { throw VulkanError.deviceLost("\(label): a start step did not run") }
        self.channel = channel
        self.kernels = kernels
        model = try GPUModelContext(channel: channel, config: config, kernels: kernels, image: image)
        probe = try HeartbeatProbe(device: device)
    }

    /// How this context computes, for reports: its kernels, and where its weights live
    /// ("…, weights imported from the pool's image" when they are shared pages, not copies).
    public var summary: String {
        kernels.summary + (model.importsWeights ? ", weights imported from the pool's image" : "")
    }

    /// The heartbeat dispatch within `deadline`; throws the typed loss if there is one.
    public func heartbeat(deadline: Duration) throws {
        try probe.beat(on: channel, deadline: deadline)
    }
}
