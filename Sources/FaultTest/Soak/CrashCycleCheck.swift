import Foundation
import ResourcePool
import Transformer

/// `--level long`'s leak check: one browser crashed and recovered `cycles` times on one pool
/// (crashes counted, never demoted: leaks are the subject), every recovery verified, the answer
/// still right at the end, and nothing left behind: no browser process alive but the pool's
/// current ones, no descriptor (pidfd, socket) more than at the start.
public enum CrashCycleCheck {
    public static func run(environment: GPUEnvironment, configuration: PoolConfiguration, cycles: Int) -> CheckResult {
        let began = ContinuousClock.now
        func result(_ ok: Bool, _ message: String, _ figures: [String: String] = [:]) -> CheckResult {
            CheckResult(name: "crash_cycles", success: ok, duration: (ContinuousClock.now - began).seconds, message: message, figures: figures)
        }
        var config = configuration
        config.crashPolicy.demotion = false
        do {
            let pool = try Pool(configuration: config, environment: environment)
            defer { pool.shutdown() }
            _ = try pool.initialize()
            guard let victim = pool.contexts.first(where: { $0.backend == .webgpu }) else { return result(false, "no webgpu context to crash") }
            let descriptorsAtStart = openDescriptors()
            var recoveries: [Double] = []
            for cycle in 0..<cycles {
                if let why = RunStop.requested { return result(false, "interrupted by \(why) after \(cycle) of \(cycles) cycles") }
                _ = try FaultInjector.inject(.browserCrash, into: pool, target: .named(victim.name))
                let r = pool.recover(using: .progressive)
                guard r.success else { return result(false, "cycle \(cycle + 1) of \(cycles): \(r.message)") }
                recoveries.append(r.duration)
            }
            let input = ModelInput.seeded(config: environment.config, seed: config.seed)
            let answer = try pool.infer(input)
            guard answer.matchesReference else { return result(false, "after \(cycles) cycles the answer differs: \(answer.comparison)") }
            let live = Set(pool.contexts.compactMap(\.pid))
            let leftover = pool.browserProcessIDs.filter { !live.contains($0) && FileManager.default.fileExists(atPath: "/proc/\($0)") }
            let descriptorsAtEnd = openDescriptors()
            let sorted = recoveries.sorted()
            let figures = ["cycles": "\(cycles)", "processes_started": "\(pool.browserProcessIDs.count)",
                           "processes_left_behind": "\(leftover.count)",
                           "descriptors_at_start": "\(descriptorsAtStart)", "descriptors_at_end": "\(descriptorsAtEnd)",
                           "recovery_p50_ms": String(format: "%.1f", (sorted.isEmpty ? 0 : sorted[sorted.count / 2]) * 1000)]
            guard leftover.isEmpty else { return result(false, "\(leftover.count) browser process(es) left behind: \(leftover)", figures) }
            guard descriptorsAtEnd <= descriptorsAtStart else {
                return result(false, "descriptors grew from \(descriptorsAtStart) to \(descriptorsAtEnd) over \(cycles) cycles", figures)
            }
            return result(true, "\(cycles) crash/recover cycles: every recovery verified, nothing left behind", figures)
        } catch {
            return result(false, "\(error)")
        }
    }

    /// This process's open descriptors.
    static func openDescriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0 }
}
