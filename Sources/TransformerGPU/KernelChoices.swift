import Foundation
import Shaders
import VulkanCompute

/// Which kernel variants run on one machine, as the tuner measured them there (`KernelTuner`).
/// A choice fitted to one CPU is not a property of a driver: lavapipe on an AVX-512 Intel and on
/// an AVX2 AMD want different tiles, and a GPU wants another family altogether. What was not
/// measured (the budget ran out, or a sequence length the tuner does not try) keeps the built-in
/// default, and says so.
public struct KernelChoices: Codable, Equatable, Sendable {
    /// The GEMM family that won on the family shape.
    public var gemmFamily: GEMMFamily
    /// The texel tile's rows that won, by the M (sequence length) they were measured at.
    public var texelRows: [Int: Int]
    /// Queries per attention invocation that won (nil: not measured).
    public var attentionQueries: Int?
    /// Every candidate timed: what `poolfault devices` shows.
    public var measurements: [Measurement]
    /// When, and how long the pass took.
    public var tunedAt: Date
    public var tuningSeconds: Double
    /// Candidates left unmeasured because the pass's budget ran out (a cold shader cache):
    /// their defaults stand, and the next run measures again.
    public var skipped: [String]

    /// Whether every candidate was measured.
    public var isComplete: Bool { skipped.isEmpty }

    public struct Measurement: Codable, Equatable, Sendable {
        /// "gemm 128x768x3072 texel 32x16", "attention s128 2 queries".
        public var candidate: String
        public var medianMs: Double
        public var gflops: Double?
        /// Wall time from building the candidate's kernels to the end of its first dispatch,
        /// compilation included (shown, not compared: the candidates are bounded so that none
        /// compiles for long).
        public var firstDispatchMs: Double?
    }
}

/// What makes a measurement valid: the CPU (model and enabled ISA), the device and its driver
/// build, the kernels' sources and poolfault's version. Any difference and the choices are
/// foreign: measured elsewhere, never trusted here.
public struct TuningKey: Codable, Equatable, Hashable, Sendable, CustomStringConvertible {
    public var cpu: String
    /// A digest of the CPU flags the kernel enabled (AVX-512 present or masked changes it).
    public var cpuFlags: String
    public var device: String
    public var driver: String
    /// A digest of the GEMM and attention kernels' GLSL.
    public var kernels: String
    public var poolfault: String

    /// `cpuInfo`: /proc/cpuinfo's text (this machine's, read once, unless a test gives another).
    public init(info: PhysicalDeviceInfo, poolfault: String, cpuInfo: String? = nil) {
        (cpu, cpuFlags) = cpuInfo.map(Self.cpu(from:)) ?? Self.thisCPU
        device = info.name
        driver = "\(info.driverName) \(info.driverInfo)"
        kernels = Self.kernelsDigest
        self.poolfault = poolfault
    }

    /// This machine's CPU model and flags digest, and the kernels' digest: fixed for the process,
    /// so every context start (and rebuild) that looks its choices up computes neither again.
    static let thisCPU = cpu(from: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")
    static let kernelsDigest = digest([ShaderLibrary.gemmTexel, ShaderLibrary.gemmTiled, ShaderLibrary.attention].map(\.text).joined())

    static func cpu(from cpuInfo: String) -> (model: String, flags: String) {
        let lines = cpuInfo.split(separator: "\n")
        func field(_ name: String) -> String {
            guard let line = lines.first(where: { $0.hasPrefix(name) }), let colon = line.firstIndex(of: ":") else { return "unknown" }
            return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (field("model name"), digest(field("flags")))
    }

    public var description: String { "\(cpu) · \(device) · \(driver) · poolfault \(poolfault)" }

    /// FNV-1a, 64 bits, as hex: enough to tell two texts apart, stable across runs and builds.
    static func digest(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(hash, radix: 16)
    }
}

/// The choices this process runs with, per device: set by the CLI after it tuned or read the
/// cache, and read from the cache by a browser process (which never tunes) at its first kernels.
public final class KernelChoiceBook: @unchecked Sendable {  // guarded by `lock`
    public static let shared = KernelChoiceBook()
    private let lock = NSLock()
    private var byKey: [TuningKey: KernelChoices?] = [:]
    /// poolfault's version, for keys; set once by the program.
    public var poolfaultVersion = "unknown"

    public init() {}

    public func set(_ choices: KernelChoices?, for key: TuningKey) { lock.withLock { byKey[key] = .some(choices) } }

    /// This machine's key for `info`'s device (one derivation for the tuner and every reader).
    public func key(for info: PhysicalDeviceInfo) -> TuningKey { TuningKey(info: info, poolfault: poolfaultVersion) }

    /// The measured choices for `info`'s device: from this process's book, else from the cache
    /// file (nil when tuning is off, or nothing valid was measured for this machine).
    public func choices(for info: PhysicalDeviceInfo) -> KernelChoices? {
        guard KernelChoiceCache.tuningEnabled else { return nil }
        let key = key(for: info)
        return lock.withLock {
            if let known = byKey[key] { return known }
            let found = (try? KernelChoiceCache.default?.read().entries.first { $0.key == key }?.choices) ?? nil
            byKey[key] = .some(found)
            return found
        }
    }
}
