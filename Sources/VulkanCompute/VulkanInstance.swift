import CVulkan
import Foundation

/// A Vulkan instance: the loader, optionally the Khronos validation layer with a messenger
/// that records into `validationLog`, and the physical devices it sees.
public final class VulkanInstance: @unchecked Sendable {  // immutable after init
    let loader: VulkanLoader
    let handle: VkInstance
    let functions: InstanceFunctions
    /// Validation messages, when created with `validation: true`.
    public let validationLog: ValidationLog?
    private var messenger: VkDebugUtilsMessengerEXT?
    /// The API version the instance asked for.
    public var apiVersion: UInt32 { VulkanInstance.requestedAPIVersion }
    static let requestedAPIVersion = vulkanVersion(1, 2)

    /// Validation is on when asked for, or when POOLFAULT_VALIDATE=1.
    public static var validationRequestedByEnvironment: Bool {
        VulkanKnobs.validate.value ?? false
    }

    public init(validation: Bool = VulkanInstance.validationRequestedByEnvironment) throws {
        let loader = try VulkanLoader.shared()
        self.loader = loader
        let layerName = "VK_LAYER_KHRONOS_validation"
        if validation {
            var count: UInt32 = 0
            _ = loader.enumerateInstanceLayerProperties(&count, nil)
            var layers = [VkLayerProperties](repeating: VkLayerProperties(), count: Int(count))
            _ = loader.enumerateInstanceLayerProperties(&count, &layers)
            guard layers.contains(where: { string(fromCTuple: $0.layerName) == layerName }) else {
                throw VulkanError.invalidUse("validation requested but \(layerName) is not installed: apt-get install vulkan-validationlayers")
            }
        }
        let log = validation ? ValidationLog() : nil
        validationLog = log
        let layers = validation ? [layerName] : []
        let extensions = validation ? [VK_EXT_DEBUG_UTILS_EXTENSION_NAME] : []
        var created: VkInstance?
        let result = "poolfault".withCString { appName in
            withCStrings(layers) { layerPointers in
                withCStrings(extensions) { extensionPointers in
                    var app = VkApplicationInfo()
                    app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO
                    app.pApplicationName = appName
                    app.apiVersion = VulkanInstance.requestedAPIVersion
                    return withUnsafePointer(to: &app) { appPointer in
                        var info = VkInstanceCreateInfo()
                        info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO
                        info.pApplicationInfo = appPointer
                        info.enabledLayerCount = UInt32(layerPointers.count)
                        info.ppEnabledLayerNames = layerPointers.baseAddress
                        info.enabledExtensionCount = UInt32(extensionPointers.count)
                        info.ppEnabledExtensionNames = extensionPointers.baseAddress
                        return loader.createInstance(&info, nil, &created)
                    }
                }
            }
        }
        if result == VK_ERROR_INCOMPATIBLE_DRIVER {
            throw VulkanError.noDriver("vkCreateInstance: VK_ERROR_INCOMPATIBLE_DRIVER")
        }
        try check(result, "vkCreateInstance")
        guard let created else { throw VulkanError.call(stage: "vkCreateInstance", result: VK_ERROR_INITIALIZATION_FAILED.rawValue) }
        handle = created
        functions = try InstanceFunctions(loader: loader, instance: created, debugUtils: validation)
        if let log, let create = functions.createDebugUtilsMessenger {
            var info = VkDebugUtilsMessengerCreateInfoEXT()
            info.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT
            info.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT.rawValue
                | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT.rawValue
            info.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT.rawValue
                | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT.rawValue
                | VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT.rawValue
            info.pfnUserCallback = validationCallback
            info.pUserData = Unmanaged.passUnretained(log).toOpaque()
            var m: VkDebugUtilsMessengerEXT?
            try check(create(created, &info, nil, &m), "vkCreateDebugUtilsMessengerEXT")
            messenger = m
        }
    }

    deinit {
        if let messenger { functions.destroyDebugUtilsMessenger?(handle, messenger, nil) }
        functions.destroyInstance(handle, nil)
    }

    /// Every physical device, in the driver's order, each with what `poolfault devices` shows.
    /// Throws `.noDriver` when there is none.
    public func physicalDevices() throws -> [PhysicalDevice] {
        var count: UInt32 = 0
        try check(functions.enumeratePhysicalDevices(handle, &count, nil), "vkEnumeratePhysicalDevices")
        guard count > 0 else {
            let pinned = ProcessInfo.processInfo.environment["VK_DRIVER_FILES"]
                ?? ProcessInfo.processInfo.environment["VK_ICD_FILENAMES"]
            throw VulkanError.noDriver(pinned.map { "no physical device with driver files \($0)" } ?? "no physical device")
        }
        var handles = [VkPhysicalDevice?](repeating: nil, count: Int(count))
        try check(functions.enumeratePhysicalDevices(handle, &count, &handles), "vkEnumeratePhysicalDevices")
        var devices = handles.prefix(Int(count)).enumerated().compactMap { index, h in
            h.map { PhysicalDevice(instance: self, handle: $0, index: index) }
        }
        for (i, identity) in PhysicalDeviceInfo.identities(of: devices.map(\.info)).enumerated() { devices[i].info.identity = identity }
        return devices
    }
}

/// Runs `body` with a C array of C strings that stay valid for its duration.
func withCStrings<R>(_ strings: [String], _ body: (UnsafeBufferPointer<UnsafePointer<CChar>?>) throws -> R) rethrows -> R {
    let duplicates = strings.map { strdup($0) }
    defer { duplicates.forEach { free($0) } }
    let pointers = duplicates.map { UnsafePointer<CChar>($0) }
    return try pointers.withUnsafeBufferPointer(body)
}
