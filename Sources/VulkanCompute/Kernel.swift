import CVulkan
import Foundation

/// How a kernel sees one of its bindings (binding i of set 0 is the i-th entry).
public enum BindingKind: Sendable, Equatable {
    /// `layout(std430, binding = i) buffer`
    case storageBuffer
    /// `layout(binding = i) uniform samplerBuffer`, read with texelFetch (RGBA32F).
    case uniformTexelBuffer
}

/// A compute pipeline: GLSL compiled by `ShaderCompiler`, its descriptor-set and pipeline
/// layouts, push constants and specialization constants, created through the device's
/// pipeline cache. Survives a dropped channel; released when its device is destroyed.
public final class Kernel: DeviceChild, @unchecked Sendable {  // state under device.lock
    public let device: ComputeDevice
    public let name: String
    public let bindings: [BindingKind]
    public let pushConstantSize: Int
    /// Seconds spent in glslang (0 on a cache hit) and in vkCreateComputePipelines.
    public let compileSeconds: Double
    public private(set) var pipelineSeconds = 0.0
    private(set) var setLayout: VkDescriptorSetLayout?
    private(set) var layout: VkPipelineLayout?
    private(set) var pipeline: VkPipeline?

    public convenience init(device: ComputeDevice, source: ShaderSource, bindings: [BindingKind],
                            pushConstantSize: Int = 0, specialization: [UInt32] = [], defines: [String: String] = [:],
                            compiler: ShaderCompiler = .shared) throws {
        try self.init(unbuiltOn: device, source: source, bindings: bindings, pushConstantSize: pushConstantSize,
                      specialization: specialization, defines: defines, compiler: compiler)
        try KernelBatch.build([self], on: device, stage: "create kernel \(source.fileName)")
    }

    /// Compiled, its Vulkan objects not yet made (`build`; `KernelBatch` builds several at once).
    init(unbuiltOn device: ComputeDevice, source: ShaderSource, bindings: [BindingKind], pushConstantSize: Int,
         specialization: [UInt32], defines: [String: String], compiler: ShaderCompiler) throws {
        self.device = device
        self.name = source.fileName
        self.bindings = bindings
        self.pushConstantSize = pushConstantSize
        self.specialization = specialization
        let compileStart = ContinuousClock.now
        spirv = try compiler.compile(source, defines: defines)
        compileSeconds = (ContinuousClock.now - compileStart).seconds
    }

    /// SPIR-V and specialization constants, kept until the pipeline is built.
    private var spirv: [UInt32]
    private let specialization: [UInt32]

    /// Makes the module, layouts and pipeline on `dev`, whose device lock the caller holds (or
    /// a `KernelBatch` holds for it). Does not release what it made when a step fails: the
    /// caller does, under that lock.
    func build(_ dev: VkDevice) throws {
        let start = ContinuousClock.now
        try create(dev, spirv: spirv, specialization: specialization)
        spirv = []
        pipelineSeconds = (ContinuousClock.now - start).seconds
    }

    deinit {
        device.lock.withLock { releaseVulkanObjects() }
        device.disown(self)
    }

    private func create(_ dev: VkDevice, spirv: [UInt32], specialization: [UInt32]) throws {
        let fns = device.fns
        var module: VkShaderModule?
        try spirv.withUnsafeBufferPointer { words in
            var info = VkShaderModuleCreateInfo()
            info.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO
            info.codeSize = words.count * 4
            info.pCode = words.baseAddress
            try check(fns.createShaderModule(dev, &info, nil, &module), "vkCreateShaderModule(\(name))")
        }
        ObjectCensus.created(.shaderModule, by: device)
        defer { fns.destroyShaderModule(dev, module, nil); ObjectCensus.destroyed(.shaderModule, by: device) }

        let layoutBindings = bindings.enumerated().map { i, kind -> VkDescriptorSetLayoutBinding in
            var b = VkDescriptorSetLayoutBinding()
            b.binding = UInt32(i)
            b.descriptorType = kind == .storageBuffer ? VK_DESCRIPTOR_TYPE_STORAGE_BUFFER : VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
            b.descriptorCount = 1
            b.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT.rawValue
            return b
        }
        var setLayout: VkDescriptorSetLayout?
        try layoutBindings.withUnsafeBufferPointer { bp in
            var info = VkDescriptorSetLayoutCreateInfo()
            info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO
            info.bindingCount = UInt32(bp.count)
            info.pBindings = bp.baseAddress
            try check(fns.createDescriptorSetLayout(dev, &info, nil, &setLayout), "vkCreateDescriptorSetLayout(\(name))")
        }
        self.setLayout = setLayout
        ObjectCensus.created(.descriptorSetLayout, by: device)

        var range = VkPushConstantRange(stageFlags: VK_SHADER_STAGE_COMPUTE_BIT.rawValue, offset: 0, size: UInt32(pushConstantSize))
        var layout: VkPipelineLayout?
        try withUnsafePointer(to: &setLayout) { sp in
            var info = VkPipelineLayoutCreateInfo()
            info.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO
            info.setLayoutCount = 1
            info.pSetLayouts = sp
            info.pushConstantRangeCount = pushConstantSize > 0 ? 1 : 0
            try withUnsafePointer(to: &range) { rp in
                info.pPushConstantRanges = pushConstantSize > 0 ? rp : nil
                try check(fns.createPipelineLayout(dev, &info, nil, &layout), "vkCreatePipelineLayout(\(name))")
            }
        }
        self.layout = layout
        ObjectCensus.created(.pipelineLayout, by: device)

        let entries = specialization.indices.map {
            VkSpecializationMapEntry(constantID: UInt32($0), offset: UInt32($0 * 4), size: 4)
        }
        var pipeline: VkPipeline?
        try entries.withUnsafeBufferPointer { ep in
            try specialization.withUnsafeBytes { data in
                var spec = VkSpecializationInfo(mapEntryCount: UInt32(ep.count), pMapEntries: ep.baseAddress,
                                                dataSize: data.count, pData: data.baseAddress)
                try "main".withCString { entry in
                    try withUnsafePointer(to: &spec) { specPointer in
                        var stage = VkPipelineShaderStageCreateInfo()
                        stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO
                        stage.stage = VK_SHADER_STAGE_COMPUTE_BIT
                        stage.module = module
                        stage.pName = entry
                        stage.pSpecializationInfo = specialization.isEmpty ? nil : specPointer
                        var info = VkComputePipelineCreateInfo()
                        info.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO
                        info.stage = stage
                        info.layout = layout
                        try check(fns.createComputePipelines(dev, device.pipelineCache.handle, 1, &info, nil, &pipeline),
                                  "vkCreateComputePipelines(\(name))")
                    }
                }
            }
        }
        self.pipeline = pipeline
        ObjectCensus.created(.pipeline, by: device)
    }

    func releaseVulkanObjects() {
        guard let dev = try? device.withDevice("", { $0 }) else {
            pipeline = nil; layout = nil; setLayout = nil
            return
        }
        if let pipeline { device.fns.destroyPipeline(dev, pipeline, nil); ObjectCensus.destroyed(.pipeline, by: device) }
        if let layout { device.fns.destroyPipelineLayout(dev, layout, nil); ObjectCensus.destroyed(.pipelineLayout, by: device) }
        if let setLayout { device.fns.destroyDescriptorSetLayout(dev, setLayout, nil); ObjectCensus.destroyed(.descriptorSetLayout, by: device) }
        pipeline = nil; layout = nil; setLayout = nil
    }

    /// Releases this kernel's pipeline now (a component failure tears it down); later use
    /// throws `.deviceLost` naming the kernel.
    public func release() { device.lock.withLock { releaseVulkanObjects() } }

    /// True while the pipeline exists.
    public var isLive: Bool { device.lock.withLock { pipeline != nil } }
}
