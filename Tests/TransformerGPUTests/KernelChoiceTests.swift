import Foundation
import Testing
@testable import TransformerGPU
@testable import VulkanCompute

/// The tuner's decisions and its cache, without a device: a winner must beat the default by more
/// than the noise; measured choices apply to the shapes they were measured at and knobs still
/// win; the cache keeps each machine's entry, and a file that is not ours is refused, not trusted.
@Suite struct KernelChoiceTests {
    static func choices(family: GEMMFamily = .texel, rows: [Int: Int] = [128: 50], queries: Int? = 4) -> KernelChoices {
        KernelChoices(gemmFamily: family, texelRows: rows, attentionQueries: queries,
                      measurements: [.init(candidate: "gemm 128x768x3072 texel 50x16", medianMs: 20, gflops: 30, firstDispatchMs: 40)],
                      tunedAt: Date(timeIntervalSince1970: 1_800_000_000), tuningSeconds: 3.5, skipped: [])
    }

    static let info = PhysicalDeviceInfo.scripted(name: "tuning test device")
    static let cpuInfo = "model name\t: Test CPU 9000\nflags\t\t: fpu sse avx2\n"

    // Test that a candidate wins only when it beats the built-in default by more than the margin.
    @Test(arguments: [
        ([(32, 1.00), (50, 0.95)], 32, 32),  // 5% faster: noise, the default stays
        ([(32, 1.00), (50, 0.85)], 32, 50),  // 15% faster: measured, it wins
        ([(32, 0.80), (50, 1.00)], 50, 32),  // the default itself loses by 20%
        ([(50, 1.00)], 32, 50),              // the default was not measured: the fastest measured
    ])
    func aWinnerMustBeatTheDefaultByMoreThanTheNoise(_ results: [(Int, Double)], _ fallback: Int, _ expected: Int) {
        #expect(KernelTuner.pick(results, default: fallback) == expected)
    }

    // Test that nothing measured picks nothing (the caller keeps its default).
    @Test func nothingMeasuredPicksNothing() {
        #expect(KernelTuner.pick([(Int, Double)](), default: 32) == nil)
    }

    // Test that measured choices apply where they were measured, and knobs and defaults elsewhere.
    @Test func measuredChoicesApplyToTheShapesTheyWereMeasuredAt() {
        let tuned = Self.choices(family: .tiled, rows: [128: 50])
        #expect(GEMMFamily.texelRows(covering: 128, lanes: 8, tuned: tuned) == 50)
        #expect(GEMMFamily.texelRows(covering: 128, lanes: 8, tuned: nil) == 32, "the cost model's pick for 128 rows")
        #expect(GEMMFamily.texelRows(covering: 197, lanes: 8, tuned: tuned) == 50, "197 was not measured: the cost model")
        #expect(GEMMFamily.texelRows(covering: 16, lanes: 8, tuned: tuned) == GEMMFamily.texelRows(covering: 16, lanes: 8))
        #expect(GEMMFamily.choose(for: Self.info, tuned: tuned) == .tiled, "a measured family wins over the device type's")
        #expect(GEMMFamily.choose(for: Self.info, tuned: nil) == .texel)
    }

    // Test that a machine's key changes with anything that changes what was measured.
    @Test func theKeyNamesTheMachineTheDriverAndTheBuild() {
        let key = TuningKey(info: Self.info, poolfault: "1.0", cpuInfo: Self.cpuInfo)
        #expect(key.cpu == "Test CPU 9000")
        #expect(key == TuningKey(info: Self.info, poolfault: "1.0", cpuInfo: Self.cpuInfo))
        #expect(key != TuningKey(info: Self.info, poolfault: "1.1", cpuInfo: Self.cpuInfo))
        #expect(key != TuningKey(info: Self.info, poolfault: "1.0", cpuInfo: Self.cpuInfo.replacingOccurrences(of: "avx2", with: "avx2 avx512f")))
        #expect(key != TuningKey(info: .scripted(name: "another device"), poolfault: "1.0", cpuInfo: Self.cpuInfo))
    }

    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("kernel-choices-\(UUID().uuidString)/choices.json").path
    }

    // Test that the cache keeps one entry per machine and reads back what it wrote.
    @Test func theCacheKeepsEachMachinesEntry() throws {
        let cache = KernelChoiceCache(path: Self.temporaryPath())
        defer { try? FileManager.default.removeItem(atPath: (cache.path as NSString).deletingLastPathComponent) }
        #expect(try cache.read().existed == false)
        let here = TuningKey(info: Self.info, poolfault: "1.0", cpuInfo: Self.cpuInfo)
        let elsewhere = TuningKey(info: .scripted(name: "another device"), poolfault: "1.0", cpuInfo: Self.cpuInfo)
        try cache.write(Self.choices(queries: 1), for: elsewhere)
        try cache.write(Self.choices(queries: 4), for: here)
        try cache.write(Self.choices(queries: 2), for: here)  // replaces this machine's entry only
        let (entries, existed) = try cache.read()
        #expect(existed && entries.count == 2)
        #expect(entries.first { $0.key == here }?.choices == Self.choices(queries: 2))
        #expect(entries.first { $0.key == elsewhere }?.choices.attentionQueries == 1)
    }

    // Test that a file that is not poolfault's choices is refused with its reason, and replaced by a write.
    @Test(arguments: ["not json at all", "{\"format\": \"poolfault-kernel-choices/999\", \"entries\": []}", "{\"entries\": 3}", ""])
    func aFileThatIsNotOursIsRefused(_ text: String) throws {
        let cache = KernelChoiceCache(path: Self.temporaryPath())
        defer { try? FileManager.default.removeItem(atPath: (cache.path as NSString).deletingLastPathComponent) }
        try FileManager.default.createDirectory(atPath: (cache.path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: cache.path, atomically: true, encoding: .utf8)
        #expect(throws: KernelChoiceCache.Unusable.self) { try cache.read() }
        let key = TuningKey(info: Self.info, poolfault: "1.0", cpuInfo: Self.cpuInfo)
        try cache.write(Self.choices(), for: key)
        #expect(try cache.read().entries.map(\.key) == [key])
    }
}
