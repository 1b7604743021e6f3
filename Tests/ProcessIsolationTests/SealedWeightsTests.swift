import CProcess
import Foundation
import Testing
import Transformer
@testable import ResourcePool
@testable import TransformerGPU

extension ProcessSuite {
    /// The CPU reference's weights are out of every browser's reach: the memfd is sealed
    /// against writes before any browser starts, each browser holds it read-only, and a
    /// corruption inside a browser never changes the reference's answer.
    @Suite struct SealedWeightsTests {
        @Test func theReferenceWeightsAreSealedAndReadOnlyInEveryBrowser() throws {
            let shared = ProcessHarness.shared
            #expect(shared.isSealedAgainstWrites)
            // Even this process, which made it, can no longer write it (any descriptor, any way).
            let writable = open(SharedWeightFile.path(descriptor: shared.descriptor), O_RDWR)
            if writable >= 0 {
                defer { close(writable) }
                var byte: UInt8 = 0
                #expect(pwrite(writable, &byte, 1, 0) == -1 && errno == EPERM, "a write to the sealed weights succeeded")
                #expect(mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, writable, 0) == MAP_FAILED, "a writable shared mapping was granted")
            }
            let (instance, pool) = try ProcessHarness.makePool()
            do {
                let before = try ProcessHarness.cpu.forward(ProcessHarness.input)
                for pid in Set(pool.contexts.compactMap(\.pid)) {
                    // Descriptor 3 of every browser: the weights, opened read-only (O_ACCMODE == O_RDONLY).
                    let target = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/3")
                    #expect(target.contains("memfd:poolfault-weights"), "\(pid): \(target)")
                    let info = try String(contentsOfFile: "/proc/\(pid)/fdinfo/3", encoding: .utf8)
                    let flags = info.split(separator: "\n").first { $0.hasPrefix("flags:") }.flatMap { Int($0.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8) }
                    #expect(flags.map { $0 & Int(O_ACCMODE) == Int(O_RDONLY) } == true, "\(pid): \(info)")
                }
                let fault = try FaultInjector.inject(.silentCorruption, into: pool, target: .named("chrome"))
                #expect(fault.corruption?.mechanism.contains("device memory") == true)
                _ = try ProcessHarness.inferMatching(pool)
                #expect(try ProcessHarness.cpu.forward(ProcessHarness.input) == before, "the reference's answer changed")
                #expect(pool.recover(using: .progressive).success)
                _ = try ProcessHarness.inferMatching(pool)
            }
            ProcessHarness.finish(pool, instance)
        }
    }
}
