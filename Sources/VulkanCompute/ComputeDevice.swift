import CVulkan
import Foundation

/// An object owned by a `ComputeDevice` that must release its Vulkan handles before the device
/// is destroyed (Vulkan forbids destroying a device with live children).
protocol DeviceChild: AnyObject {
    /// Destroys the object's handles. Called with the device lock held, at most once.
    func releaseVulkanObjects()
}

/// One logical device (a "browser" context's GPU, in poolfault's terms) with its compute queues.
/// `destroy()` is the real teardown a browser crash performs: every child is released and
/// vkDestroyDevice runs; later calls on anything of this device throw `.deviceLost`.
public final class ComputeDevice: @unchecked Sendable {  // all mutable state under `lock`
    public let physical: PhysicalDevice
    public let label: String
    /// A process-wide creation number: a rebuilt context has a new serial, a reconnected one
    /// keeps its device and serial (what reports and tests compare).
    public let serial: Int
    let fns: DeviceFunctions
    let lock = NSRecursiveLock()
    public let queueFamily: UInt32
    /// Queues created on this device: one per context in `--context-mode queue`.
    public let queueCount: Int
    /// True when device memory is host-visible (lavapipe, integrated GPUs): buffers are mapped
    /// and written in place, with no staging copy. `stagedUploads` (or POOLFAULT_STAGED_UPLOADS=1)
    /// turns it off, so lavapipe takes a discrete GPU's path: unmapped buffers, every upload and
    /// read-back through a staging buffer and a copy on the queue. CI tests that path this way.
    public let unifiedMemory: Bool
    let memoryProperties: VkPhysicalDeviceMemoryProperties
    private var handle: VkDevice?
    private var lostReason: String?
    private var children: [ObjectIdentifier: Weak] = [:]
    let pipelineCache: PipelineCache

    private struct Weak { weak var object: (any DeviceChild)? }

    private static let serialLock = NSLock()
    nonisolated(unsafe) private static var lastSerial = 0  // guarded by serialLock
    private static func nextSerial() -> Int { serialLock.withLock { lastSerial += 1; return lastSerial } }

    /// Creates the logical device with `queueCount` queues of the first compute family (capped
    /// at what the family offers; lavapipe has one).
    public init(physical: PhysicalDevice, label: String, queueCount requested: Int = 1,
                cacheStore: PipelineCacheStore = .shared, stagedUploads: Bool = ComputeDevice.stagedUploadsRequested) throws {
        self.physical = physical
        self.label = label
        serial = ComputeDevice.nextSerial()
        guard let family = physical.info.computeFamily else {
            throw VulkanError.deviceSelection("\(physical.info.name) has no compute queue family")
        }
        queueFamily = UInt32(family.index)
        queueCount = max(1, min(requested, family.count))
        memoryProperties = physical.memory
        unifiedMemory = !stagedUploads && ComputeDevice.hasUnifiedMemory(physical.memory)
        let priorities = [Float](repeating: 1, count: queueCount)
        var created: VkDevice?
        let fnsI = physical.instance.functions
        let result = priorities.withUnsafeBufferPointer { prio -> VkResult in
            var queueInfo = VkDeviceQueueCreateInfo()
            queueInfo.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO
            queueInfo.queueFamilyIndex = UInt32(family.index)
            queueInfo.queueCount = UInt32(prio.count)
            queueInfo.pQueuePriorities = prio.baseAddress
            return withUnsafePointer(to: &queueInfo) { qp in
                var info = VkDeviceCreateInfo()
                info.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO
                info.queueCreateInfoCount = 1
                info.pQueueCreateInfos = qp
                return fnsI.createDevice(physical.handle, &info, nil, &created)
            }
        }
        try check(result, "vkCreateDevice(\(physical.info.name))")
        guard let created else { throw VulkanError.call(stage: "vkCreateDevice", result: VK_ERROR_INITIALIZATION_FAILED.rawValue) }
        do {
            fns = try DeviceFunctions(instance: fnsI, device: created)
        } catch {
            let destroy: PFN_vkDestroyDevice? = try? physical.instance.loader.instanceFunction(physical.instance.handle, "vkDestroyDevice")
            destroy?(created, nil)
            throw error
        }
        handle = created
        pipelineCache = PipelineCache(store: cacheStore, uuid: physical.info.pipelineCacheUUID)
        ObjectCensus.created(.device, by: self)
        try pipelineCache.open(on: self)
    }

    deinit { destroy(reason: "released") }

    /// Why the device is gone, or nil while it is alive.
    public var lossReason: String? { lock.withLock { lostReason } }
    public var isAlive: Bool { lock.withLock { handle != nil } }

    /// The real teardown: releases every child (buffers, kernels, channels, batches), then
    /// vkDestroyDevice. Idempotent. Pending GPU work is waited for first (it always finishes:
    /// every dispatch poolfault records is bounded).
    public func destroy(reason: String) {
        lock.withLock {
            guard let device = handle else { return }
            _ = fns.deviceWaitIdle(device)
            for child in children.values.compactMap(\.object) { child.releaseVulkanObjects() }
            children.removeAll()
            pipelineCache.close(on: self, device: device)
            fns.destroyDevice(device, nil)
            ObjectCensus.destroyed(.device, by: self)
            handle = nil
            lostReason = "\(label) was destroyed (\(reason))"
        }
    }

    /// Runs `body` with the live device handle under the device lock, or throws `.deviceLost`.
    func withDevice<R>(_ stage: @autoclosure () -> String, _ body: (VkDevice) throws -> R) throws -> R {
        try lock.withLock {
            guard let device = handle else {
                throw VulkanError.deviceLost("\(stage()): \(lostReason ?? "device destroyed")")
            }
            return try body(device)
        }
    }

    func adopt(_ child: any DeviceChild) {
        lock.withLock { children[ObjectIdentifier(child)] = Weak(object: child) }
    }

    func disown(_ child: any DeviceChild) {
        lock.withLock { _ = children.removeValue(forKey: ObjectIdentifier(child)) }
    }

    /// The index of a memory type allowed by `typeBits` that has all of `flags`.
    func memoryType(_ typeBits: UInt32, _ flags: VkMemoryPropertyFlags) -> UInt32? {
        let types = withUnsafeBytes(of: memoryProperties.memoryTypes) { raw in
            Array(raw.bindMemory(to: VkMemoryType.self).prefix(Int(memoryProperties.memoryTypeCount)))
        }
        return types.indices.first { i in
            typeBits & (1 << UInt32(i)) != 0 && types[i].propertyFlags & flags == flags
        }.map(UInt32.init)
    }

    /// Unified when a device-local, host-visible, coherent type sits on the largest device-local
    /// heap (lavapipe, integrated GPUs); a discrete GPU's small BAR window does not count.
    /// POOLFAULT_STAGED_UPLOADS=1: every device takes the staging path (see `unifiedMemory`).
    public static var stagedUploadsRequested: Bool {
        ProcessInfo.processInfo.environment["POOLFAULT_STAGED_UPLOADS"] == "1"
    }

    private static func hasUnifiedMemory(_ m: VkPhysicalDeviceMemoryProperties) -> Bool {
        let types = withUnsafeBytes(of: m.memoryTypes) { Array($0.bindMemory(to: VkMemoryType.self).prefix(Int(m.memoryTypeCount))) }
        let heaps = withUnsafeBytes(of: m.memoryHeaps) { Array($0.bindMemory(to: VkMemoryHeap.self).prefix(Int(m.memoryHeapCount))) }
        let want = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT.rawValue | VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT.rawValue
            | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT.rawValue
        let largestLocal = heaps.indices
            .filter { heaps[$0].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT.rawValue != 0 }
            .max { heaps[$0].size < heaps[$1].size }
        guard let largestLocal else { return false }
        return types.contains { $0.propertyFlags & want == want && Int($0.heapIndex) == largestLocal }
    }
}
