import CVulkan

/// The device-level entry points, resolved with vkGetDeviceProcAddr for each logical device
/// (skipping the loader's dispatch trampoline).
struct DeviceFunctions: @unchecked Sendable {
    let destroyDevice: PFN_vkDestroyDevice
    let getDeviceQueue: PFN_vkGetDeviceQueue
    let queueSubmit: PFN_vkQueueSubmit
    let deviceWaitIdle: PFN_vkDeviceWaitIdle
    let createCommandPool: PFN_vkCreateCommandPool
    let destroyCommandPool: PFN_vkDestroyCommandPool
    let allocateCommandBuffers: PFN_vkAllocateCommandBuffers
    let freeCommandBuffers: PFN_vkFreeCommandBuffers
    let beginCommandBuffer: PFN_vkBeginCommandBuffer
    let endCommandBuffer: PFN_vkEndCommandBuffer
    let cmdBindPipeline: PFN_vkCmdBindPipeline
    let cmdBindDescriptorSets: PFN_vkCmdBindDescriptorSets
    let cmdPushConstants: PFN_vkCmdPushConstants
    let cmdDispatch: PFN_vkCmdDispatch
    let cmdPipelineBarrier: PFN_vkCmdPipelineBarrier
    let cmdCopyBuffer: PFN_vkCmdCopyBuffer
    let cmdWriteTimestamp: PFN_vkCmdWriteTimestamp
    let cmdResetQueryPool: PFN_vkCmdResetQueryPool
    let createQueryPool: PFN_vkCreateQueryPool
    let destroyQueryPool: PFN_vkDestroyQueryPool
    let getQueryPoolResults: PFN_vkGetQueryPoolResults
    let createFence: PFN_vkCreateFence
    let destroyFence: PFN_vkDestroyFence
    let waitForFences: PFN_vkWaitForFences
    let resetFences: PFN_vkResetFences
    let getFenceStatus: PFN_vkGetFenceStatus
    let createBuffer: PFN_vkCreateBuffer
    let destroyBuffer: PFN_vkDestroyBuffer
    let getBufferMemoryRequirements: PFN_vkGetBufferMemoryRequirements
    let allocateMemory: PFN_vkAllocateMemory
    let freeMemory: PFN_vkFreeMemory
    let bindBufferMemory: PFN_vkBindBufferMemory
    let mapMemory: PFN_vkMapMemory
    let unmapMemory: PFN_vkUnmapMemory
    let createBufferView: PFN_vkCreateBufferView
    let destroyBufferView: PFN_vkDestroyBufferView
    let createShaderModule: PFN_vkCreateShaderModule
    let destroyShaderModule: PFN_vkDestroyShaderModule
    let createDescriptorSetLayout: PFN_vkCreateDescriptorSetLayout
    let destroyDescriptorSetLayout: PFN_vkDestroyDescriptorSetLayout
    let createPipelineLayout: PFN_vkCreatePipelineLayout
    let destroyPipelineLayout: PFN_vkDestroyPipelineLayout
    let createComputePipelines: PFN_vkCreateComputePipelines
    let destroyPipeline: PFN_vkDestroyPipeline
    let createPipelineCache: PFN_vkCreatePipelineCache
    let destroyPipelineCache: PFN_vkDestroyPipelineCache
    let getPipelineCacheData: PFN_vkGetPipelineCacheData
    let createDescriptorPool: PFN_vkCreateDescriptorPool
    let destroyDescriptorPool: PFN_vkDestroyDescriptorPool
    let allocateDescriptorSets: PFN_vkAllocateDescriptorSets
    let updateDescriptorSets: PFN_vkUpdateDescriptorSets
    /// VK_EXT_external_memory_host, where the device was created with it.
    let getMemoryHostPointerProperties: PFN_vkGetMemoryHostPointerPropertiesEXT?

    init(instance: InstanceFunctions, device: VkDevice, hostImport: Bool = false) throws {
        func f<F>(_ name: String) throws -> F {
            guard let p = instance.getDeviceProcAddr(device, name) else {
                throw VulkanError.call(stage: "vkGetDeviceProcAddr(\(name))", result: VK_ERROR_EXTENSION_NOT_PRESENT.rawValue)
            }
            return unsafeBitCast(p, to: F.self)
        }
        destroyDevice = try f("vkDestroyDevice")
        getDeviceQueue = try f("vkGetDeviceQueue")
        queueSubmit = try f("vkQueueSubmit")
        deviceWaitIdle = try f("vkDeviceWaitIdle")
        createCommandPool = try f("vkCreateCommandPool")
        destroyCommandPool = try f("vkDestroyCommandPool")
        allocateCommandBuffers = try f("vkAllocateCommandBuffers")
        freeCommandBuffers = try f("vkFreeCommandBuffers")
        beginCommandBuffer = try f("vkBeginCommandBuffer")
        endCommandBuffer = try f("vkEndCommandBuffer")
        cmdBindPipeline = try f("vkCmdBindPipeline")
        cmdBindDescriptorSets = try f("vkCmdBindDescriptorSets")
        cmdPushConstants = try f("vkCmdPushConstants")
        cmdDispatch = try f("vkCmdDispatch")
        cmdPipelineBarrier = try f("vkCmdPipelineBarrier")
        cmdCopyBuffer = try f("vkCmdCopyBuffer")
        cmdWriteTimestamp = try f("vkCmdWriteTimestamp")
        cmdResetQueryPool = try f("vkCmdResetQueryPool")
        createQueryPool = try f("vkCreateQueryPool")
        destroyQueryPool = try f("vkDestroyQueryPool")
        getQueryPoolResults = try f("vkGetQueryPoolResults")
        createFence = try f("vkCreateFence")
        destroyFence = try f("vkDestroyFence")
        waitForFences = try f("vkWaitForFences")
        resetFences = try f("vkResetFences")
        getFenceStatus = try f("vkGetFenceStatus")
        createBuffer = try f("vkCreateBuffer")
        destroyBuffer = try f("vkDestroyBuffer")
        getBufferMemoryRequirements = try f("vkGetBufferMemoryRequirements")
        allocateMemory = try f("vkAllocateMemory")
        freeMemory = try f("vkFreeMemory")
        bindBufferMemory = try f("vkBindBufferMemory")
        mapMemory = try f("vkMapMemory")
        unmapMemory = try f("vkUnmapMemory")
        createBufferView = try f("vkCreateBufferView")
        destroyBufferView = try f("vkDestroyBufferView")
        createShaderModule = try f("vkCreateShaderModule")
        destroyShaderModule = try f("vkDestroyShaderModule")
        createDescriptorSetLayout = try f("vkCreateDescriptorSetLayout")
        destroyDescriptorSetLayout = try f("vkDestroyDescriptorSetLayout")
        createPipelineLayout = try f("vkCreatePipelineLayout")
        destroyPipelineLayout = try f("vkDestroyPipelineLayout")
        createComputePipelines = try f("vkCreateComputePipelines")
        destroyPipeline = try f("vkDestroyPipeline")
        createPipelineCache = try f("vkCreatePipelineCache")
        destroyPipelineCache = try f("vkDestroyPipelineCache")
        getPipelineCacheData = try f("vkGetPipelineCacheData")
        createDescriptorPool = try f("vkCreateDescriptorPool")
        destroyDescriptorPool = try f("vkDestroyDescriptorPool")
        allocateDescriptorSets = try f("vkAllocateDescriptorSets")
        updateDescriptorSets = try f("vkUpdateDescriptorSets")
        getMemoryHostPointerProperties = hostImport ? try f("vkGetMemoryHostPointerPropertiesEXT") : nil
    }
}
