import CVulkan

/// Every failure VulkanCompute reports. Each case says which stage failed and what to do.
public enum VulkanError: Error, Sendable, Equatable, CustomStringConvertible {
    /// libvulkan.so.1 could not be loaded: the Vulkan loader is not installed.
    case loaderMissing(String)
    /// The loader found no driver (ICD) or no physical device.
    case noDriver(String)
    /// A Vulkan call returned an error code.
    case call(stage: String, result: Int32)
    /// A wait outlasted its deadline. The work may still complete later.
    case timeout(stage: String, seconds: Double)
    /// The device was destroyed (a simulated crash) or lost; every later call fails like this.
    case deviceLost(String)
    /// The channel (queue + command pool + fence) was dropped; reconnect to use it again.
    case queueLost(String)
    /// No device matched `--device`, or a GPU was required and only software was found.
    case deviceSelection(String)
    /// `--require-gpu` was given and the chosen device is a software driver.
    case gpuRequired(String)
    /// No memory type or too little memory for a buffer.
    case outOfMemory(String)
    /// GLSL did not compile; `location` is "file:line".
    case shaderCompile(file: String, line: Int?, log: String)
    /// A caller passed something this module cannot do (wrong size, unsupported binding).
    case invalidUse(String)

    public var description: String {
        switch self {
        case .loaderMissing(let why):
            return "Vulkan loader not found (\(why)). Install it: apt-get install libvulkan1 mesa-vulkan-drivers"
        case .noDriver(let why):
            return "no Vulkan driver found (\(why)). Install one: apt-get install mesa-vulkan-drivers (lavapipe, software) or your GPU's driver; check VK_DRIVER_FILES / VK_ICD_FILENAMES"
        case .call(let stage, let result):
            return "\(stage) failed: \(VulkanError.name(of: result)) (\(result))"
        case .timeout(let stage, let seconds):
            return "\(stage) did not finish within its \(String(format: "%.3f", seconds)) s deadline"
        case .deviceLost(let why):
            return "device lost: \(why)"
        case .queueLost(let why):
            return "queue lost: \(why)"
        case .deviceSelection(let why), .gpuRequired(let why):
            return why
        case .outOfMemory(let why):
            return "out of device memory: \(why)"
        case .shaderCompile(let file, let line, let log):
            let location = line.map { "\(file):\($0)" } ?? file
            return "\(location): shader compile error: \(log)"
        case .invalidUse(let why):
            return "invalid use: \(why)"
        }
    }

    /// True for the errors a fault (not a bug) produces: the pool fails over on these.
    public var isLoss: Bool {
        switch self {
        case .deviceLost, .queueLost, .timeout: return true
        case .call(_, let result): return result == VK_ERROR_DEVICE_LOST.rawValue
        default: return false
        }
    }

    static func name(of result: Int32) -> String {
        switch result {
        case VK_NOT_READY.rawValue: return "VK_NOT_READY"
        case VK_TIMEOUT.rawValue: return "VK_TIMEOUT"
        case VK_INCOMPLETE.rawValue: return "VK_INCOMPLETE"
        case VK_ERROR_OUT_OF_HOST_MEMORY.rawValue: return "VK_ERROR_OUT_OF_HOST_MEMORY"
        case VK_ERROR_OUT_OF_DEVICE_MEMORY.rawValue: return "VK_ERROR_OUT_OF_DEVICE_MEMORY"
        case VK_ERROR_INITIALIZATION_FAILED.rawValue: return "VK_ERROR_INITIALIZATION_FAILED"
        case VK_ERROR_DEVICE_LOST.rawValue: return "VK_ERROR_DEVICE_LOST"
        case VK_ERROR_MEMORY_MAP_FAILED.rawValue: return "VK_ERROR_MEMORY_MAP_FAILED"
        case VK_ERROR_LAYER_NOT_PRESENT.rawValue: return "VK_ERROR_LAYER_NOT_PRESENT"
        case VK_ERROR_EXTENSION_NOT_PRESENT.rawValue: return "VK_ERROR_EXTENSION_NOT_PRESENT"
        case VK_ERROR_FEATURE_NOT_PRESENT.rawValue: return "VK_ERROR_FEATURE_NOT_PRESENT"
        case VK_ERROR_INCOMPATIBLE_DRIVER.rawValue: return "VK_ERROR_INCOMPATIBLE_DRIVER"
        case VK_ERROR_TOO_MANY_OBJECTS.rawValue: return "VK_ERROR_TOO_MANY_OBJECTS"
        case VK_ERROR_OUT_OF_POOL_MEMORY.rawValue: return "VK_ERROR_OUT_OF_POOL_MEMORY"
        default: return "VkResult"
        }
    }
}

/// Throws `.call` (or `.deviceLost`) unless `result` is VK_SUCCESS.
@inline(__always)
func check(_ result: VkResult, _ stage: @autoclosure () -> String) throws {
    guard result != VK_SUCCESS else { return }
    if result == VK_ERROR_DEVICE_LOST { throw VulkanError.deviceLost("\(stage()) returned VK_ERROR_DEVICE_LOST") }
    if result == VK_ERROR_OUT_OF_DEVICE_MEMORY || result == VK_ERROR_OUT_OF_HOST_MEMORY {
        throw VulkanError.outOfMemory("\(stage()): \(VulkanError.name(of: result.rawValue))")
    }
    throw VulkanError.call(stage: stage(), result: result.rawValue)
}
