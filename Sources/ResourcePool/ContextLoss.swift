import TransformerGPU
import VulkanCompute

/// What a failure means for a context, decided once, here, from the typed error its engine threw
/// (in this process, or mapped from a browser process's reply): everything above — the router's
/// failover, the context's state, detection — asks this and never reads the error itself.
enum ContextLoss {
    /// The device or the browser's process is gone (or was killed as hung): rebuild.
    case device
    /// The queue, channel or socket is gone; the device and its weights live: reconnect.
    case connection
    /// Some components' weights are gone; the context serves the rest.
    case components
    /// A check caught wrong answers or wrong weights (silent corruption): quarantine, restore.
    case corruption(CorruptionFinding)

    /// Nil when `error` is no loss (a bad request, a configuration error): it fails the request, not the context.
    init?(_ error: any Error) {
        switch error {
        case VulkanError.deviceLost: self = .device
        case VulkanError.queueLost, VulkanError.timeout: self = .connection
        case let vulkan as VulkanError where vulkan.isLoss: self = .device  // a raw VK_ERROR_DEVICE_LOST
        case GPUModelError.componentMissing: self = .components
        case let finding as CorruptionFinding: self = .corruption(finding)
        default: return nil
        }
    }

    static func isLoss(_ error: any Error) -> Bool { ContextLoss(error) != nil }
}
