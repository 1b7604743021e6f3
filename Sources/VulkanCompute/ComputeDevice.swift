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
    /// True when buffers can be backed by host pages as they are (VK_EXT_external_memory_host
    /// enabled, memory unified): weights are then imported from the pool's shared image, not
    /// copied (`DeviceBuffer(importing:)`). The pool offers no image with POOLFAULT_HOST_IMPORT=0.
    public let hostImport: Bool
    /// The alignment of an imported range's start and length (1 when `hostImport` is false).
    public let hostImportAlignment: Int
    let memoryProperties: VkPhysicalDeviceMemoryProperties
    private var handle: VkDevice?
    private var lostReason: String?
    private var children: [ObjectIdentifier: Weak] = [:]
    private var stranded: [StrandedWork] = []
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
        hostImport = unifiedMemory && physical.offersHostImport
        hostImportAlignment = hostImport ? physical.info.hostImportAlignment ?? 1 : 1
        let extensions = hostImport ? [PhysicalDevice.hostImportExtension] : []
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
                let names = extensions.map { strdup($0) }
                defer { names.forEach { free($0) } }
                return names.map { UnsafePointer($0) }.withUnsafeBufferPointer { ext in
                    info.enabledExtensionCount = UInt32(ext.count)
                    info.ppEnabledExtensionNames = ext.isEmpty ? nil : ext.baseAddress
                    return fnsI.createDevice(physical.handle, &info, nil, &created)
                }
            }
        }
        try check(result, "vkCreateDevice(\(physical.info.name))")
        guard let created else { throw VulkanError.call(stage: "vkCreateDevice", result: VK_ERROR_INITIALIZATION_FAILED.rawValue) }
        do {
            fns = try DeviceFunctions(instance: fnsI, device: created, hostImport: hostImport)
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
    public func destroy(reason: String, deadline: Duration = Channel.defaultTimeout) {
        // A child whose last reference went away on another thread is in its deinit, waiting
        // for this lock to release its handles; its weak entry already reads nil, so the loop
        // below would skip it and vkDestroyDevice would meet live objects. Take the lock only
        // when every registered child is alive, and hold strong references to all of them
        // (none can start its deinit meanwhile); otherwise let the dying ones finish (bounded).
        var held: [any DeviceChild] = []
        let settleUntil = ContinuousClock.now + .seconds(2)
        while true {
            lock.lock()
            held = children.values.compactMap(\.object)
            if held.count == children.count || ContinuousClock.now > settleUntil { break }
            held = []
            lock.unlock()
            usleep(200)  // not a stand-in for work: lets a dying child's deinit take the lock and release itself
        }
        defer { lock.unlock(); held = [] }
        let abandoned: VkDevice? = lock.withLock {
            guard let device = handle else { return nil }
            let until = ContinuousClock.now + deadline
            let channels = children.values.compactMap { $0.object as? Channel }
            let idle = channels.allSatisfy { $0.settle(until: until) } && stranded.allSatisfy { $0.settle(fns, device, until: until) }
            if !idle {
                // Work still runs past the deadline (a hung or runaway dispatch): vkDeviceWaitIdle
                // or vkDestroyDevice would block until it ends. Give the handle up now; a
                // background thread destroys it when the driver lets go. Its children are left
                // to the driver (freeing them while the GPU may read them is not allowed).
                handle = nil
                lostReason = "\(label) was abandoned (\(reason)): its work still ran after \(deadline.seconds) s"
                for child in children.values.compactMap(\.object) { child.releaseVulkanObjects() }  // no handle: they only forget
                children.removeAll()
                stranded.removeAll()
                ObjectCensus.destroyed(.device, by: self)
                ComputeDevice.abandonedLock.withLock { ComputeDevice.abandoned += 1 }
                return device
            }
            for work in stranded { work.release(fns, device, census: self) }
            stranded.removeAll()
            for child in children.values.compactMap(\.object) { child.releaseVulkanObjects() }
            children.removeAll()
            pipelineCache.close(on: self, device: device)
            fns.destroyDevice(device, nil)
            ObjectCensus.destroyed(.device, by: self)
            handle = nil
            lostReason = "\(label) was destroyed (\(reason))"
            return nil
        }
        if let abandoned {
            struct Handle: @unchecked Sendable { let device: VkDevice; let fns: DeviceFunctions }  // used by that thread alone
            let h = Handle(device: abandoned, fns: fns)
            let thread = Thread {
                _ = h.fns.deviceWaitIdle(h.device)
                h.fns.destroyDevice(h.device, nil)
                ComputeDevice.abandonedLock.withLock { ComputeDevice.abandoned -= 1 }
            }
            thread.name = "poolfault-abandoned-device"
            thread.start()
        }
    }

    /// Work handed over by a channel torn down while it still ran (see `Channel.releaseVulkanObjects`).
    func strand(_ work: StrandedWork) { lock.withLock { stranded.append(work) } }

    private static let abandonedLock = NSLock()
    nonisolated(unsafe) private static var abandoned = 0  // guarded by abandonedLock
    /// Devices given up with work still running whose driver teardown has not finished. A
    /// process should leave with `_exit` while this is not zero: the driver's exit handlers
    /// could wait for that work.
    public static var abandonedCount: Int { abandonedLock.withLock { abandoned } }

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
        VulkanKnobs.stagedUploads.value ?? false
    }

    /// POOLFAULT_HOST_IMPORT=0: the pool makes no weight image, so every weight upload is a copy.
    public static var hostImportAllowed: Bool { VulkanKnobs.hostImport.value ?? true }

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

/// A channel's pool, fence and batch whose work outlived the channel's deadline at teardown.
struct StrandedWork {
    let fence: VkFence
    let pool: VkCommandPool
    let batch: CommandBatch?
    let label: String

    /// Waits for the fence until `deadline` at most; true once it signalled.
    func settle(_ fns: DeviceFunctions, _ device: VkDevice, until deadline: ContinuousClock.Instant) -> Bool {
        var f: VkFence? = fence
        let left = max(0, (deadline - .now).seconds)
        return fns.waitForFences(device, 1, &f, VkBool32(VK_TRUE), UInt64(left * 1e9)) == VK_SUCCESS
    }

    /// Frees the pool and fence (their work has finished).
    func release(_ fns: DeviceFunctions, _ device: VkDevice, census owner: ComputeDevice) {
        fns.destroyFence(device, fence, nil); ObjectCensus.destroyed(.fence, by: owner)
        fns.destroyCommandPool(device, pool, nil); ObjectCensus.destroyed(.commandPool, by: owner)
    }
}
