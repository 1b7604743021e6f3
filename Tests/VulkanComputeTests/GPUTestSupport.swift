import Foundation
import Testing
@testable import VulkanCompute

/// Shared set-up for GPU tests: lavapipe pinned (unless the caller pinned another driver), the
/// Khronos validation layer on, and a check that it said nothing.
enum GPU {
    static let lavapipeICD = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"

    /// Pins lavapipe once per process before the first instance (the loader reads
    /// VK_DRIVER_FILES at instance creation). Keeps a driver the caller chose.
    static let pinDriver: Void = {
        if ProcessInfo.processInfo.environment["VK_DRIVER_FILES"] == nil,
           FileManager.default.fileExists(atPath: lavapipeICD) {
            setenv("VK_DRIVER_FILES", lavapipeICD, 0)
        }
    }()

    /// A validated instance and its default device.
    static func open() throws -> (VulkanInstance, PhysicalDevice) {
        _ = pinDriver
        let instance = try VulkanInstance(validation: true)
        let devices = try instance.physicalDevices()
        let (index, _) = try DeviceSelection().choose(from: devices.map(\.info))
        return (instance, devices[index])
    }

    /// Fails the test on any validation message the instance recorded.
    static func expectClean(_ instance: VulkanInstance, sourceLocation: SourceLocation = #_sourceLocation) {
        let messages = instance.validationLog?.drain() ?? []
        #expect(messages.isEmpty, "validation: \(messages.map(\.description).joined(separator: "\n"))",
                sourceLocation: sourceLocation)
    }
}

/// A source compiled from a string in a test.
func testShader(_ name: String, _ text: String) -> ShaderSource { ShaderSource(fileName: name, text: text) }

/// A seeded generator (SplitMix64) so test inputs are the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Every GPU test lives under this suite: serialized (one device at a time, and the object
/// census sees only its own test's objects).
@Suite(.serialized) struct GPUSuite {}
