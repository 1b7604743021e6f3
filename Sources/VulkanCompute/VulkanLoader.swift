import CVulkan
import Foundation

/// Loads libvulkan.so.1 with dlopen and resolves entry points through vkGetInstanceProcAddr.
/// poolfault never links libvulkan, so a machine without the loader gets
/// `VulkanError.loaderMissing` (which names the package) instead of a dynamic-linker abort.
struct VulkanLoader: @unchecked Sendable {  // plain function pointers into a library never unloaded
    let getInstanceProcAddr: PFN_vkGetInstanceProcAddr
    let createInstance: PFN_vkCreateInstance
    let enumerateInstanceLayerProperties: PFN_vkEnumerateInstanceLayerProperties
    let enumerateInstanceExtensionProperties: PFN_vkEnumerateInstanceExtensionProperties

    /// The process-wide loader: dlopen happens once, and the handle is never closed (drivers
    /// keep threads and atexit handlers that must outlive every device).
    static func shared() throws -> VulkanLoader {
        try cached.get()
    }

    private static let cached: Result<VulkanLoader, VulkanError> = Result { try VulkanLoader() }
        .mapError { $0 as? VulkanError ?? .loaderMissing("\($0)") }

    private init() throws {
        LavapipeVectorWidth.applyBeforeLoadingDrivers()
        // POOLFAULT_VULKAN_LIBRARY names another loader (tests use it to prove the
        // missing-loader message without uninstalling anything).
        let override = ProcessInfo.processInfo.environment["POOLFAULT_VULKAN_LIBRARY"]
        let names = override.map { [$0] } ?? ["libvulkan.so.1", "libvulkan.so"]
        var handle: UnsafeMutableRawPointer?
        for name in names where handle == nil { handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) }
        guard let handle else {
            let why = dlerror().map { String(cString: $0) } ?? "dlopen(libvulkan.so.1) failed"
            throw VulkanError.loaderMissing(why)
        }
        guard let symbol = dlsym(handle, "vkGetInstanceProcAddr") else {
            throw VulkanError.loaderMissing("libvulkan.so.1 has no vkGetInstanceProcAddr")
        }
        let gipa = unsafeBitCast(symbol, to: PFN_vkGetInstanceProcAddr.self)
        getInstanceProcAddr = gipa
        func global<F>(_ name: String) throws -> F {
            guard let f = gipa(nil, name) else { throw VulkanError.loaderMissing("loader lacks \(name)") }
            return unsafeBitCast(f, to: F.self)
        }
        createInstance = try global("vkCreateInstance")
        enumerateInstanceLayerProperties = try global("vkEnumerateInstanceLayerProperties")
        enumerateInstanceExtensionProperties = try global("vkEnumerateInstanceExtensionProperties")
    }

    /// Resolves an instance-level entry point.
    func instanceFunction<F>(_ instance: VkInstance, _ name: String) throws -> F {
        guard let f = getInstanceProcAddr(instance, name) else {
            throw VulkanError.call(stage: "vkGetInstanceProcAddr(\(name))", result: VK_ERROR_EXTENSION_NOT_PRESENT.rawValue)
        }
        return unsafeBitCast(f, to: F.self)
    }
}

/// Reads a fixed-size C char array (imported as a tuple) as a String.
func string<T>(fromCTuple tuple: T) -> String {
    withUnsafeBytes(of: tuple) { raw in
        let bytes = raw.prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Makes a Vulkan API version number (VK_MAKE_API_VERSION is a macro Swift cannot import).
func vulkanVersion(_ major: UInt32, _ minor: UInt32, _ patch: UInt32 = 0) -> UInt32 {
    (major << 22) | (minor << 12) | patch
}

/// "1.3.230" from a packed Vulkan version.
public func versionString(_ v: UInt32) -> String {
    "\(v >> 22).\((v >> 12) & 0x3FF).\(v & 0xFFF)"
}
