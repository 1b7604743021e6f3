import CVulkan

/// The instance-level entry points VulkanCompute uses, resolved once per instance.
struct InstanceFunctions: @unchecked Sendable {
    let destroyInstance: PFN_vkDestroyInstance
    let enumeratePhysicalDevices: PFN_vkEnumeratePhysicalDevices
    let getPhysicalDeviceProperties: PFN_vkGetPhysicalDeviceProperties
    let getPhysicalDeviceProperties2: PFN_vkGetPhysicalDeviceProperties2
    let getPhysicalDeviceFeatures2: PFN_vkGetPhysicalDeviceFeatures2
    let getPhysicalDeviceQueueFamilyProperties: PFN_vkGetPhysicalDeviceQueueFamilyProperties
    let getPhysicalDeviceMemoryProperties: PFN_vkGetPhysicalDeviceMemoryProperties
    let enumerateDeviceExtensionProperties: PFN_vkEnumerateDeviceExtensionProperties
    let createDevice: PFN_vkCreateDevice
    let getDeviceProcAddr: PFN_vkGetDeviceProcAddr
    let createDebugUtilsMessenger: PFN_vkCreateDebugUtilsMessengerEXT?
    let destroyDebugUtilsMessenger: PFN_vkDestroyDebugUtilsMessengerEXT?

    init(loader: VulkanLoader, instance: VkInstance, debugUtils: Bool) throws {
        func f<F>(_ name: String) throws -> F { try loader.instanceFunction(instance, name) }
        destroyInstance = try f("vkDestroyInstance")
        enumeratePhysicalDevices = try f("vkEnumeratePhysicalDevices")
        getPhysicalDeviceProperties = try f("vkGetPhysicalDeviceProperties")
        getPhysicalDeviceProperties2 = try f("vkGetPhysicalDeviceProperties2")
        getPhysicalDeviceFeatures2 = try f("vkGetPhysicalDeviceFeatures2")
        getPhysicalDeviceQueueFamilyProperties = try f("vkGetPhysicalDeviceQueueFamilyProperties")
        getPhysicalDeviceMemoryProperties = try f("vkGetPhysicalDeviceMemoryProperties")
        enumerateDeviceExtensionProperties = try f("vkEnumerateDeviceExtensionProperties")
        createDevice = try f("vkCreateDevice")
        getDeviceProcAddr = try f("vkGetDeviceProcAddr")
        createDebugUtilsMessenger = debugUtils ? try f("vkCreateDebugUtilsMessengerEXT") : nil
        destroyDebugUtilsMessenger = debugUtils ? try f("vkDestroyDebugUtilsMessengerEXT") : nil
    }
}
