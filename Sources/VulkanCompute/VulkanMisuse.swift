import CVulkan

/// A deliberate misuse of Vulkan, for proving that the validation layer's messages reach the
/// report from wherever they are raised (`poolfault … --vulkan-misuse`, hidden): a check that
/// has never seen a message cannot show it would pass one on.
public enum VulkanMisuse: String, Sendable, Codable, CaseIterable {
    /// A buffer created with size 0 (VUID-VkBufferCreateInfo-size-00912), destroyed at once.
    case invalid
    /// A buffer created and never destroyed: the layer reports it when the device is destroyed
    /// (VUID-vkDestroyDevice-device-00378), so only a device torn down in order shows it.
    case leak
}

extension ComputeDevice {
    /// Commits `misuse` once on this device. Bypasses DeviceBuffer, whose own checks refuse it,
    /// and ObjectCensus, which would otherwise count the leak as the device's.
    public func commit(_ misuse: VulkanMisuse) throws {
        try withDevice("\(misuse.rawValue) Vulkan use (--vulkan-misuse)") { dev in
            var info = VkBufferCreateInfo()
            info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO
            info.size = misuse == .invalid ? 0 : 256
            info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT.rawValue
            info.sharingMode = VK_SHARING_MODE_EXCLUSIVE
            var buffer: VkBuffer?
            let result = fns.createBuffer(dev, &info, nil, &buffer)
            if misuse == .invalid, result == VK_SUCCESS, let buffer { fns.destroyBuffer(dev, buffer, nil) }
        }
    }
}
