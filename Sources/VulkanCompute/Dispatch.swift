/// One compute dispatch: a kernel, the buffers bound to its bindings (in binding order), its
/// push constants (32-bit words; floats by bit pattern) and the workgroup counts.
public struct Dispatch: @unchecked Sendable {  // holds class references that are thread-safe
    public let kernel: Kernel
    public let buffers: [DeviceBuffer]
    public let pushConstants: [UInt32]
    public let groups: (x: UInt32, y: UInt32, z: UInt32)
    public let label: String

    public init(_ kernel: Kernel, buffers: [DeviceBuffer], push: [UInt32] = [],
                groups: (x: UInt32, y: UInt32, z: UInt32), label: String? = nil) {
        self.kernel = kernel
        self.buffers = buffers
        self.pushConstants = push
        self.groups = groups
        self.label = label ?? kernel.name
    }
}

/// One step of a `CommandBatch`. A barrier follows every step, so each step sees the writes
/// of the steps before it.
public enum BatchStep: @unchecked Sendable {
    case dispatch(Dispatch)
    case copy(from: DeviceBuffer, to: DeviceBuffer, bytes: Int, sourceOffset: Int = 0, destinationOffset: Int = 0)
}

/// What a submitted batch took: wall-clock time of submit + wait, and per-dispatch GPU times
/// from timestamp queries when the batch was recorded with timestamps.
public struct BatchTiming: Sendable {
    public let wallSeconds: Double
    public let gpuSeconds: [(label: String, seconds: Double)]
    public var totalGPUSeconds: Double { gpuSeconds.reduce(0) { $0 + $1.seconds } }
    /// The batch's time: its GPU timestamps where the device has them, else the wall time.
    public var seconds: Double { gpuSeconds.isEmpty ? wallSeconds : totalGPUSeconds }
}

/// Ceiling division for workgroup counts.
public func groupCount(_ n: Int, _ size: Int) -> UInt32 { UInt32((n + size - 1) / size) }
