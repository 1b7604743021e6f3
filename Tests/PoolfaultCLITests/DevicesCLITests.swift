import Foundation
import Testing

/// `poolfault devices` end to end, through the built binary.
@Suite(.serialized) struct DevicesCLITests {
    @Test func listsTheDevicesAsJSONWithADefault() throws {
        let r = try CLIRunner.run(["devices", "--json", "--validate"])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let devices = object?["devices"] as? [[String: Any]] ?? []
        #expect(!devices.isEmpty)
        #expect(object?["default"] as? Int == 0)
        let first = devices.first ?? [:]
        for key in ["name", "type", "vendor_id", "device_id", "driver_name", "driver_info", "api_version",
                    "queue_families", "memory_heaps", "limits", "timestamps", "shader_float16"] {
            #expect(first[key] != nil, "missing \(key)")
        }
        #expect(!r.stderr.contains("validation:"), "validation messages: \(r.stderr)")
    }

    @Test func forcingLavapipeThroughVKDriverFiles() throws {
        let r = try CLIRunner.run(["devices"], environment: ["VK_DRIVER_FILES": "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("llvmpipe"))
        #expect(r.stdout.contains("no hardware GPU found"), "the software fallback is named")
    }

    @Test func lavapipeRunsAtTheCPUsFullVectorWidthUnlessTheUserChose() throws {
        let lvp = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let avx512 = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").contains("avx512f") ?? false
        let chosen = try CLIRunner.run(["devices"], environment: ["VK_DRIVER_FILES": lvp, "LP_NATIVE_VECTOR_WIDTH": nil])
        #expect(chosen.status == 0, "\(chosen.stderr)")
        #expect(chosen.stdout.contains("512 bits") == avx512, "\(chosen.stdout)")
        #expect(chosen.stdout.contains("poolfault's choice on this AVX-512 CPU") == avx512, "\(chosen.stdout)")
        let user = try CLIRunner.run(["devices"], environment: ["VK_DRIVER_FILES": lvp, "LP_NATIVE_VECTOR_WIDTH": "128"])
        #expect(user.stdout.contains("128 bits"), "\(user.stdout)")
        #expect(!user.stdout.contains("poolfault's choice"), "\(user.stdout)")
    }

    @Test func aMissingDriverFileGivesTheClearError() throws {
        let r = try CLIRunner.run(["devices"], environment: ["VK_DRIVER_FILES": "/nonexistent/icd.json"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("no Vulkan driver found"))
        #expect(r.stderr.contains("mesa-vulkan-drivers"))
        #expect(!r.stderr.contains("Fatal error"))
    }

    @Test func aMissingLoaderNamesThePackage() throws {
        let r = try CLIRunner.run(["devices"], environment: ["POOLFAULT_VULKAN_LIBRARY": "/nonexistent/libvulkan.so.1"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("Vulkan loader not found"))
        #expect(r.stderr.contains("libvulkan1"))
    }

    @Test func anUnknownDeviceListsTheDevicesAndExits64() throws {
        let r = try CLIRunner.run(["devices", "--device", "42"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("no device with index 42"))
        #expect(r.stderr.contains("llvmpipe"))
    }

    // Test that with only lavapipe loaded (pinned here, whatever GPU the machine has),
    // --require-gpu refuses with exit 2 and says why.
    @Test func requireGPUFailsOnSoftwareOnly() throws {
        let lavapipe = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"
        let r = try CLIRunner.run(["devices", "--require-gpu"], environment: ["VK_DRIVER_FILES": lavapipe, "VK_ICD_FILENAMES": nil])
        #expect(r.status == 2, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stderr.contains("--require-gpu"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "one line: \(r.stderr)")
    }

    @Test func anUnknownFlagIsAUsageError() throws {
        let r = try CLIRunner.run(["devices", "--bogus"])
        #expect(r.status == 64)
    }
}
