import CVulkan
import Foundation

/// A device queue with its command pool and fence: what a browser's "connection" is in
/// poolfault. `drop()` is the real teardown of a connection loss (the pool and fence are
/// destroyed, every batch recorded on them becomes invalid); buffers and kernels of the device
/// survive, and `reconnect()` makes a new pool and fence on the same queue.
/// Every wait has a deadline (`timeout`); a wait that outlasts it throws `.timeout` and the
/// channel waits for that work before its next submit.
public final class Channel: DeviceChild, @unchecked Sendable {  // state under device.lock
    public let device: ComputeDevice
    public let queueIndex: Int
    public let label: String
    /// The deadline of every wait on this channel.
    public var timeout: Duration
    private var queue: VkQueue?
    private var pool: VkCommandPool?
    private var fence: VkFence?
    private var pending = false
    /// The batch whose submission the fence tracks: kept alive until the fence signals, so a
    /// caller that gave up at a deadline cannot free command buffers the GPU still executes.
    private var inFlight: CommandBatch?
    private var droppedReason: String?
    /// Bumped by every reconnect: batches remember the generation they were recorded in.
    private(set) var generation = 0

    /// The default deadline of a wait: POOLFAULT_WAIT_TIMEOUT_S, else 60 s (a full-size forward
    /// on lavapipe takes under 2 s; a wait that needs a minute is a hang).
    public static var defaultTimeout: Duration {
        .milliseconds(Int64((VulkanKnobs.waitTimeout.value ?? 60) * 1000))
    }

    public init(device: ComputeDevice, queueIndex: Int = 0, label: String, timeout: Duration = Channel.defaultTimeout) throws {
        guard queueIndex >= 0, queueIndex < device.queueCount else {
            throw VulkanError.invalidUse("queue \(queueIndex) of \(device.label), which has \(device.queueCount)")
        }
        self.device = device
        self.queueIndex = queueIndex
        self.label = label
        self.timeout = timeout
        try device.lock.withLock {  // connect and adopt as one step (see DeviceBuffer)
            try connect()
            device.adopt(self)
        }
    }

    deinit {
        device.lock.withLock { releaseVulkanObjects() }
        device.disown(self)
    }

    /// True when `batch` was recorded on this channel's current connection.
    public func isCurrent(_ batch: CommandBatch) -> Bool {
        device.lock.withLock { batch.channel === self && batch.generation == generation && pool != nil }
    }

    public var isConnected: Bool { device.lock.withLock { pool != nil && device.isAlive } }

    /// Tears the connection down: waits (bounded) for work in flight, then destroys the command
    /// pool and fence. Later submits throw `.queueLost` until `reconnect()`.
    public func drop(reason: String) {
        device.lock.withLock {
            releaseVulkanObjects()
            droppedReason = reason
        }
    }

    /// Makes a new command pool and fence on the same queue of the same device.
    public func reconnect() throws {
        try device.lock.withLock {
            releaseVulkanObjects()
            try connect()
            droppedReason = nil
        }
    }

    private func connect() throws {
        try device.withDevice("connect \(label)") { dev in
            var q: VkQueue?
            device.fns.getDeviceQueue(dev, device.queueFamily, UInt32(queueIndex), &q)
            var poolInfo = VkCommandPoolCreateInfo()
            poolInfo.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO
            poolInfo.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT.rawValue
            poolInfo.queueFamilyIndex = device.queueFamily
            var p: VkCommandPool?
            try check(device.fns.createCommandPool(dev, &poolInfo, nil, &p), "vkCreateCommandPool(\(label))")
            ObjectCensus.created(.commandPool, by: device)
            pool = p
            var fenceInfo = VkFenceCreateInfo()
            fenceInfo.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO
            var f: VkFence?
            try check(device.fns.createFence(dev, &fenceInfo, nil, &f), "vkCreateFence(\(label))")
            ObjectCensus.created(.fence, by: device)
            fence = f
            queue = q
            pending = false
            generation += 1
        }
    }

    func releaseVulkanObjects() {
        guard let dev = try? device.withDevice("", { $0 }) else {
            pool = nil; fence = nil; queue = nil
            return
        }
        if pending, let fence, let pool {
            // Bounded: wait for the work in flight at most the channel's deadline. Should it
            // still run then (a hang), its pool, fence and batch are handed to the device, which
            // frees them once the work ends, or abandons them with the device: never freed while
            // the GPU may still read them, and never waited for without a deadline.
            var f: VkFence? = fence
            if device.fns.waitForFences(dev, 1, &f, VkBool32(VK_TRUE), UInt64(timeout.seconds * 1e9)) != VK_SUCCESS {
                device.strand(StrandedWork(fence: fence, pool: pool, batch: inFlight, label: label))
                self.pool = nil; self.fence = nil; queue = nil; inFlight = nil; pending = false
                return
            }
            pending = false
        }
        inFlight = nil
        if let fence { device.fns.destroyFence(dev, fence, nil); ObjectCensus.destroyed(.fence, by: device) }
        if let pool { device.fns.destroyCommandPool(dev, pool, nil); ObjectCensus.destroyed(.commandPool, by: device) }
        pool = nil; fence = nil; queue = nil
    }

    /// Waits, until `deadline` at most, for work this channel has in flight. True when none
    /// is left. Called with the device lock held (teardown).
    func settle(until deadline: ContinuousClock.Instant) -> Bool {
        guard pending, let fence, let dev = try? device.withDevice("", { $0 }) else { return true }
        var f: VkFence? = fence
        let left = max(0, (deadline - .now).seconds)
        guard device.fns.waitForFences(dev, 1, &f, VkBool32(VK_TRUE), UInt64(left * 1e9)) == VK_SUCCESS else { return false }
        pending = false
        inFlight = nil
        return true
    }

    /// The live command pool, or `.queueLost` / `.deviceLost`.
    func livePool(_ stage: String) throws -> (VkDevice, VkCommandPool) {
        try device.withDevice(stage) { dev in
            guard let pool else {
                throw VulkanError.queueLost("\(stage): \(label) was dropped (\(droppedReason ?? "not connected"))")
            }
            return (dev, pool)
        }
    }

    /// Records `steps` into a reusable batch (submit it as often as needed while this channel
    /// stays connected).
    public func record(_ steps: [BatchStep], timestamps: Bool = false, label batchLabel: String = "batch") throws -> CommandBatch {
        try CommandBatch(channel: self, steps: steps, timestamps: timestamps, label: batchLabel)
    }

    /// Submits `batch` and waits for it, at most `deadline` (default: the channel's `timeout`).
    @discardableResult
    public func submit(_ batch: CommandBatch, deadline: Duration? = nil) throws -> BatchTiming {
        let limit = deadline ?? timeout
        let start = ContinuousClock.now
        try device.lock.withLock {
            let (dev, _) = try livePool("submit \(batch.label) on \(label)")
            guard batch.generation == generation, let commandBuffer = batch.commandBuffer else {
                throw VulkanError.queueLost("batch \(batch.label) was recorded on a connection of \(label) that was dropped")
            }
            var f: VkFence? = fence
            if pending {
                try wait(dev, &f, limit, stage: "wait for earlier work on \(label)")
            }
            try check(device.fns.resetFences(dev, 1, &f), "vkResetFences(\(label))")
            var cb: VkCommandBuffer? = commandBuffer
            var submit = VkSubmitInfo()
            submit.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO
            submit.commandBufferCount = 1
            try withUnsafePointer(to: &cb) { cbp in
                submit.pCommandBuffers = cbp
                try check(device.fns.queueSubmit(queue, 1, &submit, fence), "vkQueueSubmit(\(label))")
            }
            pending = true
            inFlight = batch
            try wait(dev, &f, limit, stage: "wait for \(batch.label) on \(label)")
        }
        let wall = (ContinuousClock.now - start).seconds
        return BatchTiming(wallSeconds: wall, gpuSeconds: try batch.readTimestamps())
    }

    private func wait(_ dev: VkDevice, _ f: inout VkFence?, _ limit: Duration, stage: String) throws {
        let result = device.fns.waitForFences(dev, 1, &f, VkBool32(VK_TRUE), UInt64(max(0, limit.seconds) * 1e9))
        if result == VK_TIMEOUT { throw VulkanError.timeout(stage: stage, seconds: limit.seconds) }
        try check(result, stage)
        pending = false
        inFlight = nil
    }

    /// Records, submits and releases a one-off batch.
    @discardableResult
    public func run(_ steps: [BatchStep], timestamps: Bool = false, label batchLabel: String = "batch",
                    deadline: Duration? = nil) throws -> BatchTiming {
        let batch = try record(steps, timestamps: timestamps, label: batchLabel)
        return try submit(batch, deadline: deadline)
    }

    /// Copies bytes between buffers of this channel's device and waits.
    public func copy(from source: DeviceBuffer, to destination: DeviceBuffer, bytes: Int,
                     sourceOffset: Int = 0, destinationOffset: Int = 0) throws {
        try run([.copy(from: source, to: destination, bytes: bytes, sourceOffset: sourceOffset,
                       destinationOffset: destinationOffset)], label: "copy")
    }

    /// Waits for work left in flight by an earlier timeout (at most `timeout`).
    public func waitIdle() throws {
        try device.lock.withLock {
            let (dev, _) = try livePool("wait idle on \(label)")
            guard pending else { return }
            var f: VkFence? = fence
            try wait(dev, &f, timeout, stage: "wait idle on \(label)")
        }
    }
}
