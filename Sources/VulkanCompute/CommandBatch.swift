import CVulkan
import Foundation

/// Dispatches and copies recorded once into a command buffer of a `Channel`, with their
/// descriptor sets (and timestamp queries when asked), submitted as often as needed. It is
/// bound to the channel's connection: after `Channel.drop()` submitting it throws `.queueLost`
/// and it must be recorded again on the reconnected channel (that cost is part of recovery).
public final class CommandBatch: DeviceChild, @unchecked Sendable {  // state under device.lock
    public let channel: Channel
    public let label: String
    let generation: Int
    private(set) var commandBuffer: VkCommandBuffer?
    private var pool: VkCommandPool?
    private var descriptorPool: VkDescriptorPool?
    private var queryPool: VkQueryPool?
    private let timestampLabels: [String]
    /// Every buffer and kernel the recorded commands use, kept alive as long as the batch:
    /// Swift may release a caller's last reference right after recording (release builds do),
    /// and a batch must never point the GPU at freed memory.
    private let resources: [AnyObject]
    private var device: ComputeDevice { channel.device }

    init(channel: Channel, steps: [BatchStep], timestamps: Bool, label: String) throws {
        self.channel = channel
        self.label = label
        let dispatches = steps.compactMap { if case .dispatch(let d) = $0 { d } else { nil } }
        let useTimestamps = timestamps && channel.device.physical.info.timestamps && !dispatches.isEmpty
        timestampLabels = useTimestamps ? dispatches.map(\.label) : []
        resources = steps.flatMap { step -> [AnyObject] in
            switch step {
            case .dispatch(let d): return [d.kernel] + d.buffers
            case .copy(let from, let to, _, _, _): return [from, to]
            }
        }
        // The pool is taken under the lock that also covers recording and adoption, so a
        // concurrent destroy either comes first (livePool throws) or sees this batch.
        channel.device.lock.lock()
        defer { channel.device.lock.unlock() }
        let (dev, pool) = try channel.livePool("record \(label) on \(channel.label)")
        generation = channel.generation
        self.pool = pool
        do { try record(dev, pool, steps, dispatches) } catch {
            releaseVulkanObjects()
            throw error
        }
        channel.device.adopt(self)
    }

    deinit {
        device.lock.withLock { releaseVulkanObjects() }
        device.disown(self)
    }

    private func record(_ dev: VkDevice, _ pool: VkCommandPool, _ steps: [BatchStep], _ dispatches: [Dispatch]) throws {
        let fns = device.fns
        var allocInfo = VkCommandBufferAllocateInfo()
        allocInfo.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO
        allocInfo.commandPool = pool
        allocInfo.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY
        allocInfo.commandBufferCount = 1
        var cb: VkCommandBuffer?
        try check(fns.allocateCommandBuffers(dev, &allocInfo, &cb), "vkAllocateCommandBuffers(\(label))")
        commandBuffer = cb
        let sets = try allocateDescriptorSets(dev, dispatches)
        if !timestampLabels.isEmpty {
            var info = VkQueryPoolCreateInfo()
            info.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO
            info.queryType = VK_QUERY_TYPE_TIMESTAMP
            info.queryCount = UInt32(timestampLabels.count * 2)
            try check(fns.createQueryPool(dev, &info, nil, &queryPool), "vkCreateQueryPool(\(label))")
            ObjectCensus.created(.queryPool, by: device)
        }
        var begin = VkCommandBufferBeginInfo()
        begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO
        try check(fns.beginCommandBuffer(cb, &begin), "vkBeginCommandBuffer(\(label))")
        if let queryPool { fns.cmdResetQueryPool(cb, queryPool, 0, UInt32(timestampLabels.count * 2)) }
        var dispatchIndex = 0
        for step in steps {
            switch step {
            case .dispatch(let d):
                try recordDispatch(cb, d, set: sets[dispatchIndex], index: dispatchIndex)
                dispatchIndex += 1
            case .copy(let from, let to, let bytes, let sourceOffset, let destinationOffset):
                guard sourceOffset + bytes <= from.size, destinationOffset + bytes <= to.size else {
                    throw VulkanError.invalidUse("copy of \(bytes) bytes from \(from.label) to \(to.label) out of range")
                }
                var region = VkBufferCopy(srcOffset: VkDeviceSize(sourceOffset), dstOffset: VkDeviceSize(destinationOffset),
                                          size: VkDeviceSize(bytes))
                fns.cmdCopyBuffer(cb, try from.handle("copy"), try to.handle("copy"), 1, &region)
            }
            var barrier = VkMemoryBarrier()
            barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER
            barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT.rawValue | VK_ACCESS_TRANSFER_WRITE_BIT.rawValue
            barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT.rawValue | VK_ACCESS_SHADER_WRITE_BIT.rawValue
                | VK_ACCESS_TRANSFER_READ_BIT.rawValue | VK_ACCESS_TRANSFER_WRITE_BIT.rawValue | VK_ACCESS_HOST_READ_BIT.rawValue
            let stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT.rawValue | VK_PIPELINE_STAGE_TRANSFER_BIT.rawValue
            fns.cmdPipelineBarrier(cb, stages, stages | VK_PIPELINE_STAGE_HOST_BIT.rawValue, 0, 1, &barrier, 0, nil, 0, nil)
        }
        try check(fns.endCommandBuffer(cb), "vkEndCommandBuffer(\(label))")
    }

    private func recordDispatch(_ cb: VkCommandBuffer?, _ d: Dispatch, set: VkDescriptorSet?, index: Int) throws {
        let fns = device.fns
        guard d.kernel.device === device else {
            throw VulkanError.invalidUse("kernel \(d.kernel.name) belongs to another device than \(channel.label)")
        }
        guard let pipeline = d.kernel.pipeline, let layout = d.kernel.layout else {
            throw VulkanError.deviceLost("kernel \(d.kernel.name) on \(device.label) was released")
        }
        guard d.pushConstants.count * 4 == d.kernel.pushConstantSize else {
            throw VulkanError.invalidUse("\(d.label): \(d.pushConstants.count * 4) bytes of push constants for a kernel that declares \(d.kernel.pushConstantSize)")
        }
        if let queryPool {
            fns.cmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queryPool, UInt32(index * 2))
        }
        fns.cmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline)
        var s = set
        fns.cmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, layout, 0, 1, &s, 0, nil)
        if !d.pushConstants.isEmpty {
            d.pushConstants.withUnsafeBytes {
                fns.cmdPushConstants(cb, layout, VK_SHADER_STAGE_COMPUTE_BIT.rawValue, 0, UInt32($0.count), $0.baseAddress)
            }
        }
        fns.cmdDispatch(cb, d.groups.x, d.groups.y, d.groups.z)
        if let queryPool {
            fns.cmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queryPool, UInt32(index * 2 + 1))
        }
    }

    /// One descriptor set per dispatch, from a pool sized for exactly this batch.
    private func allocateDescriptorSets(_ dev: VkDevice, _ dispatches: [Dispatch]) throws -> [VkDescriptorSet?] {
        guard !dispatches.isEmpty else { return [] }
        let fns = device.fns
        for d in dispatches where d.buffers.count != d.kernel.bindings.count {
            throw VulkanError.invalidUse("\(d.label): \(d.buffers.count) buffers for \(d.kernel.bindings.count) bindings")
        }
        let kinds = dispatches.flatMap(\.kernel.bindings)
        let storage = kinds.filter { $0 == .storageBuffer }.count
        let texel = kinds.count - storage
        var sizes: [VkDescriptorPoolSize] = []
        if storage > 0 { sizes.append(.init(type: VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, descriptorCount: UInt32(storage))) }
        if texel > 0 { sizes.append(.init(type: VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, descriptorCount: UInt32(texel))) }
        try sizes.withUnsafeBufferPointer { sp in
            var info = VkDescriptorPoolCreateInfo()
            info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO
            info.maxSets = UInt32(dispatches.count)
            info.poolSizeCount = UInt32(sp.count)
            info.pPoolSizes = sp.baseAddress
            try check(fns.createDescriptorPool(dev, &info, nil, &descriptorPool), "vkCreateDescriptorPool(\(label))")
        }
        ObjectCensus.created(.descriptorPool, by: device)
        var layouts = try dispatches.map { d -> VkDescriptorSetLayout? in
            guard let l = d.kernel.setLayout else { throw VulkanError.deviceLost("kernel \(d.kernel.name) was released") }
            return l
        }
        var sets = [VkDescriptorSet?](repeating: nil, count: dispatches.count)
        var alloc = VkDescriptorSetAllocateInfo()
        alloc.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO
        alloc.descriptorPool = descriptorPool
        alloc.descriptorSetCount = UInt32(dispatches.count)
        try layouts.withUnsafeMutableBufferPointer { lp in
            alloc.pSetLayouts = UnsafePointer(lp.baseAddress)
            try check(fns.allocateDescriptorSets(dev, &alloc, &sets), "vkAllocateDescriptorSets(\(label))")
        }
        for (d, set) in zip(dispatches, sets) {
            var bufferInfos: [VkDescriptorBufferInfo] = []
            var views: [VkBufferView?] = []
            for (buffer, kind) in zip(d.buffers, d.kernel.bindings) {
                if kind == .storageBuffer {
                    bufferInfos.append(VkDescriptorBufferInfo(buffer: try buffer.handle("bind \(d.label)"), offset: 0,
                                                              range: VkDeviceSize(VK_WHOLE_SIZE)))
                } else {
                    views.append(try buffer.texelViewHandle("bind \(d.label)"))
                }
            }
            bufferInfos.withUnsafeBufferPointer { bip in
                views.withUnsafeBufferPointer { vp in
                    var writes: [VkWriteDescriptorSet] = []
                    var b = 0, v = 0
                    for (i, kind) in d.kernel.bindings.enumerated() {
                        var w = VkWriteDescriptorSet()
                        w.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET
                        w.dstSet = set
                        w.dstBinding = UInt32(i)
                        w.descriptorCount = 1
                        if kind == .storageBuffer {
                            w.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER
                            w.pBufferInfo = bip.baseAddress! + b
                            b += 1
                        } else {
                            w.descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
                            w.pTexelBufferView = vp.baseAddress! + v
                            v += 1
                        }
                        writes.append(w)
                    }
                    guard !writes.isEmpty else { return }
                    fns.updateDescriptorSets(dev, UInt32(writes.count), writes, 0, nil)
                }
            }
        }
        _ = texel
        return sets
    }

    /// Per-dispatch GPU seconds from the last submit (empty without timestamps).
    func readTimestamps() throws -> [(label: String, seconds: Double)] {
        try device.lock.withLock {
            guard let queryPool, !timestampLabels.isEmpty else { return [] }
            let dev = try device.withDevice("read timestamps") { $0 }
            let count = timestampLabels.count * 2
            var values = [UInt64](repeating: 0, count: count)
            try values.withUnsafeMutableBytes { raw in
                try check(device.fns.getQueryPoolResults(dev, queryPool, 0, UInt32(count), raw.count, raw.baseAddress, 8,
                                                        VK_QUERY_RESULT_64_BIT.rawValue), "vkGetQueryPoolResults(\(label))")
            }
            let period = device.physical.info.limits.timestampPeriodNs * 1e-9
            return timestampLabels.enumerated().map { i, l in
                (l, Double(values[2 * i + 1] &- values[2 * i]) * period)
            }
        }
    }

    func releaseVulkanObjects() {
        guard let dev = try? device.withDevice("", { $0 }) else { clear(); return }
        // The command buffer dies with its pool when the channel was dropped; free it only
        // while that pool is the channel's live one.
        if let commandBuffer, let pool, channel.generation == generation, (try? channel.livePool(""))?.1 == pool {
            var cb: VkCommandBuffer? = commandBuffer
            device.fns.freeCommandBuffers(dev, pool, 1, &cb)
        }
        if let descriptorPool { device.fns.destroyDescriptorPool(dev, descriptorPool, nil); ObjectCensus.destroyed(.descriptorPool, by: device) }
        if let queryPool { device.fns.destroyQueryPool(dev, queryPool, nil); ObjectCensus.destroyed(.queryPool, by: device) }
        clear()
    }

    private func clear() { commandBuffer = nil; pool = nil; descriptorPool = nil; queryPool = nil }
}
