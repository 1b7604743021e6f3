import ArgumentParser
import Foundation
import ResourcePool
import TransformerGPU
import VulkanCompute

extension PoolConfiguration.Isolation: ExpressibleByArgument {}
extension VulkanMisuse: ExpressibleByArgument {}
extension Cascade.Stage: ExpressibleByArgument {}

/// A check that is on or off.
enum Switch: String, ExpressibleByArgument, CaseIterable { case on, off }

/// The pool flags `run`, `soak` and `bench recovery` share: which browsers, a browser that keeps
/// crashing, the silent-corruption checks, and the trace.
struct PoolOptions: ParsableArguments {
    @Option(help: "Browsers, one context each (comma-separated).")
    var browsers = "chrome,firefox,edge"

    @Option(parsing: .unconditional, help: "The faulted browser crashes again on each of its next N starts (in process isolation its new process kills itself), to exercise the restart budget (3 rebuilds) and the circuit breaker: recoveries that must fail.")
    var keepCrashing = 0

    @Option(help: .hidden)  // a test knob: the first browser's process misuses Vulkan (invalid: once; leak: a buffer never destroyed)
    var vulkanMisuse: VulkanMisuse?

    @Option(name: .customLong("isolation"), help: "process: each browser is its own OS process (a crash is a SIGKILL, a lost connection a broken socket, a hang a dispatch that never returns); thread: every browser in this process, faults are deliberate teardowns (debugging). Default: process (bench recovery: both, compared).")
    var isolationChoice: PoolConfiguration.Isolation?

    /// `run`'s isolation: process unless asked otherwise.
    var isolation: PoolConfiguration.Isolation { isolationChoice ?? .process }

    @Option(parsing: .unconditional, help: "Process isolation: seconds a shard run or heartbeat may take before the watchdog declares its context hung and kills the browser's process (Chrome's GPU watchdog).")
    var watchdog: Double = 2

    @Option(name: .customLong("in-flight"), parsing: .unconditional, help: "Process isolation: requests each context may have in flight in its browser's process, which queues them and runs them in order (1–64; 1: one at a time). A crash loses what is in flight; the pool re-drives it.")
    var requestsInFlight = PoolConfiguration.defaultRequestsInFlight

    @Option(help: "Spread the browsers over physical devices: all (every GPU), indices (0,1,2; repeats allowed: 0,0,0) or names (nvidia,amd). A browser's contexts stay on its device; a crashed browser is rebuilt on its own device.")
    var devices: String?

    @Option(parsing: .unconditional, help: "With --devices: N browsers on each listed device (names taken from --browsers, numbered after the first round).")
    var browsersPerDevice: Int?

    @Option(parsing: .unconditional, help: "Degradation ladder: crashes of one browser within --crash-window that demote it a rung (hardware GPU → software Vulkan → CPU path), 1–100.")
    var crashLimit = 3

    @Option(parsing: .unconditional, help: "Degradation ladder: the window crashes are counted in, seconds.")
    var crashWindow = 300.0

    @Option(parsing: .unconditional, help: "Degradation ladder: one crash is forgiven per this many seconds.")
    var forgiveAfter = 300.0

    @Flag(help: "Count crashes, never demote a browser.")
    var noDemotion = false

    @Option(help: "Treat these physical device indices as hardware GPUs (comma-separated): to exercise the whole ladder on a machine with only software Vulkan.")
    var treatAsHardware: String?

    @Option(help: "Also write a trace (Chrome Trace Event Format; open it in ui.perfetto.dev or chrome://tracing) to this file.")
    var trace: String?

    @Option(help: "Checksummed Linear layers on every context's device: silent corruption caught without a CPU reference (on, off).")
    var abft: Switch = .on

    @Option(help: "Weight scrubbing: each context keeps the source's digest of every weight row, and a scrub compares the device's with them (in recovery; soak --scrub-interval periodically) (on, off).")
    var scrub: Switch = .on

    @Option(help: "silent_corruption: how weights go wrong: subtle (low mantissa bits), gross (an exponent bit) or mixed (1-3 bits anywhere), then ,persistent (stays wrong) or ,transient (one dispatch's output wrong once). Default mixed,persistent.")
    var corruption = "mixed,persistent"

    @Option(parsing: .unconditional, help: "silent_corruption: the corrupted context's device corrupts its weights again after each of its next N restores (bad hardware: the pool isolates it): a run that must fail.")
    var keepCorrupting = 0

    @Option(help: "cascading_failure: where in recovery the second crash strikes: detection (the failover target, as recovery begins), weight_upload or first_dispatch (the rebuilt browser; progressive and coordinated only). Default: drawn with --seed.")
    var cascadeStage: Cascade.Stage?

    /// `--cascade-stage` against the strategies that will recover: simple rebuilds nothing, so
    /// only detection happens in its recovery.
    func validateCascade(strategies: [RecoveryStrategyKind]) throws {
        guard let cascadeStage else { return }
        for strategy in strategies where !Cascade.Stage.stages(for: strategy).contains(cascadeStage) {
            throw ValidationError("--cascade-stage \(cascadeStage.rawValue) never happens in \(strategy.rawValue)'s recovery (it rebuilds nothing): use --cascade-stage detection, or another --recovery-strategy")
        }
    }

    /// `--corruption` as a spec (nil when it does not parse).
    var corruptionSpec: CorruptionSpec? {
        let parts = corruption.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard (1...2).contains(parts.count), let magnitude = CorruptionMagnitude(rawValue: parts[0]) else { return nil }
        let persistence = parts.count == 2 ? CorruptionPersistence(rawValue: parts[1]) : .persistent
        return persistence.map { CorruptionSpec(magnitude: magnitude, persistence: $0, seed: 0) }
    }

    /// `--devices` resolved against the machine's devices (nil without the flag): the browsers
    /// and where each runs. Bad values are usage errors (exit 64), named with the valid ones.
    func spread(among physical: [PhysicalDeviceInfo]) throws -> DeviceSpread? {
        guard let devices else { return nil }
        let indices = try DeviceSpread.resolve(devices, among: physical)
        return DeviceSpread.assign(browsers: browserList, devices: indices, perDevice: browsersPerDevice)
    }

    /// Isolation and watchdog applied to `pool`.
    func apply(to pool: inout PoolConfiguration, isolation: PoolConfiguration.Isolation? = nil) {
        pool.isolation = isolation ?? self.isolation
        pool.crashPolicy.limit = crashLimit
        pool.crashPolicy.window = crashWindow
        pool.crashPolicy.forgiveAfter = forgiveAfter
        pool.crashPolicy.demotion = !noDemotion
        pool.crashPolicy.hardwareDevices = hardwareIndices
        pool.watchdog = .milliseconds(Int64((watchdog * 1000).rounded()))
        pool.requestsInFlight = requestsInFlight
        pool.integrity = IntegrityChecks(checksums: abft == .on, scrubbing: scrub == .on)
        if let spec = corruptionSpec { pool.corruption = spec }
        pool.keepCorrupting = keepCorrupting
        pool.cascadeStage = cascadeStage
        pool.vulkanMisuse = vulkanMisuse
    }

    var hardwareIndices: Set<Int>? {
        guard let treatAsHardware else { return nil }
        let values = treatAsHardware.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? -1) >= 0 }) else { return nil }
        return Set(values.compactMap { $0 })
    }

    var browserList: [String] { browsers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }

    func validate() throws {
        guard keepCrashing >= 0 else { throw ValidationError("--keep-crashing must be 0 or more (got \(keepCrashing))") }
        guard (0...1000).contains(keepCorrupting) else { throw ValidationError("--keep-corrupting must be from 0 to 1000 (got \(keepCorrupting))") }
        guard corruptionSpec != nil else {
            throw ValidationError("--corruption takes subtle, gross or mixed, optionally followed by ,persistent or ,transient (got \(corruption))")
        }
        guard !browserList.isEmpty else { throw ValidationError("--browsers needs at least one browser") }
        for name in browserList { if let why = PoolConfiguration.problem(withBrowserName: name) { throw ValidationError("--browsers: \(why)") } }
        if let n = browsersPerDevice {
            guard devices != nil else { throw ValidationError("--browsers-per-device needs --devices") }
            guard (1...16).contains(n) else { throw ValidationError("--browsers-per-device must be from 1 to 16 (got \(n))") }
        }
        if let devices, devices.isEmpty { throw ValidationError("--devices is empty: give all, indices (0,1) or names") }
        guard (1...100).contains(crashLimit) else { throw ValidationError("--crash-limit must be from 1 to 100 (got \(crashLimit))") }
        for (flag, value) in [("--crash-window", crashWindow), ("--forgive-after", forgiveAfter)] {
            guard value.isFinite, value > 0, value <= 86_400 else { throw ValidationError("\(flag) must be above 0 and at most 86400 seconds (got \(value))") }
        }
        if let list = treatAsHardware, hardwareIndices == nil {
            throw ValidationError("--treat-as-hardware takes device indices, comma-separated, e.g. 0 or 0,1 (got \(list))")
        }
        guard PoolConfiguration.requestsInFlightRange.contains(requestsInFlight) else {
            let range = PoolConfiguration.requestsInFlightRange
            throw ValidationError("--in-flight must be from \(range.lowerBound) to \(range.upperBound) requests (got \(requestsInFlight))")
        }
        guard watchdog.isFinite, watchdog >= 0.01, watchdog <= 3600 else {
            throw ValidationError("--watchdog must be from 0.01 to 3600 seconds (got \(watchdog))")
        }
    }
}
