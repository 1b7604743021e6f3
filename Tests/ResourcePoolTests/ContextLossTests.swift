import Testing
import TransformerGPU
@testable import ResourcePool
import VulkanCompute

/// What each failure means for a context, decided in one place (`ContextLoss`): every error a
/// fault can cause maps to the recovery it needs, and an error that is no fault maps to none.
@Suite struct ContextLossTests {
    static let vkErrorDeviceLost: Int32 = -4  // VK_ERROR_DEVICE_LOST

    @Test func everyFaultErrorMapsToItsRecovery() {
        func kind(_ error: any Error) -> String {
            switch ContextLoss(error) {
            case .device?: return "device"
            case .connection?: return "connection"
            case .components?: return "components"
            case .corruption?: return "corruption"
            case nil: return "none"
            }
        }
        #expect(kind(VulkanError.deviceLost("browser process ended")) == "device")
        #expect(kind(VulkanError.call(stage: "vkQueueSubmit", result: Self.vkErrorDeviceLost)) == "device",
                "a raw VK_ERROR_DEVICE_LOST is a lost device, not a missing component")
        #expect(kind(VulkanError.queueLost("socket shut down")) == "connection")
        #expect(kind(VulkanError.timeout(stage: "heartbeat", seconds: 2)) == "connection")
        #expect(kind(GPUModelError.componentMissing("layer3.attention")) == "components")
        #expect(kind(CorruptionFinding(detector: .checksum, detail: "column group 2")) == "corruption")
        // No fault of the context: a bad request or a configuration error fails the request only.
        #expect(kind(VulkanError.call(stage: "vkCreateBuffer", result: -1)) == "none")
        #expect(kind(VulkanError.invalidUse("a buffer of 0 bytes")) == "none")
        #expect(kind(PoolError.noContext("safari")) == "none")
    }
}
