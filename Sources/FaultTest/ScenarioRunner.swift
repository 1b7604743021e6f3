import Foundation
import ResourcePool
import Transformer
import VulkanCompute

/// Runs scenarios: each on a fresh pool over the shared environment (instance, weights, CPU
/// reference), six timed phases, then the pool's devices are released.
public struct ScenarioRunner: Sendable {
    public let environment: GPUEnvironment
    public let configuration: PoolConfiguration
    public let strategy: RecoveryStrategyKind
    public let faultTarget: FaultTarget
    /// The faulted browser crashes again on its next N starts (a browser that keeps crashing).
    public let keepCrashing: Int
    /// The request every inference phase runs, and the CPU reference's states at its shard boundaries.
    public let input: ModelInput
    public let reference: ReferenceTrace
    /// The run's start: every time a scenario records is seconds since this instant.
    public let origin: ContinuousClock.Instant

    public init(environment: GPUEnvironment, configuration: PoolConfiguration, strategy: RecoveryStrategyKind,
                faultTarget: FaultTarget = .drawn, keepCrashing: Int = 0, origin: ContinuousClock.Instant = .now) throws {
        self.origin = origin
        self.environment = environment
        self.configuration = configuration
        self.strategy = strategy
        self.faultTarget = faultTarget
        self.keepCrashing = keepCrashing
        input = ModelInput.seeded(config: environment.config, seed: configuration.seed)
        reference = try ReferenceTrace(input: input, plan: Pool.plan(for: configuration, config: environment.config), cpu: environment.cpu)
    }

    /// One scenario, start to verdict. Never throws: a phase that cannot run fails with the
    /// error as its message, and the phases after it are absent.
    public func run(_ kind: FaultKind) -> (result: ScenarioResult, devices: [DeviceSummary]) {
        var phases: [Phase] = []
        var numerics: [String: NumericsRecord] = [:]
        var fault: FaultRecord?
        var recovery: RecoveryRecord?
        var pool: Pool?
        var devices: [DeviceSummary] = []
        var wrongServed = 0, wrongCaught = 0

        /// Times `body`; its (success, message) becomes the phase; a throw fails it.
        func phase(_ name: PhaseName, _ body: () throws -> (Bool, String)) -> Bool {
            let start = ContinuousClock.now
            let outcome: (Bool, String)
            do { outcome = try body() } catch { outcome = (false, "\(phaseFailure(name)): \(error)") }
            phases.append(Phase(name, PhaseResult(success: outcome.0, duration: (ContinuousClock.now - start).seconds, message: outcome.1,
                                                  start: (start - origin).seconds)))
            return outcome.0
        }

        func inference(_ name: PhaseName, _ check: (InferenceResult) -> (Bool, String)) -> Bool {
            phase(name) {
                guard let pool else { throw PoolError.noContext("no pool") }
                let r = try pool.infer(input, reference: reference)
                numerics[name.rawValue] = NumericsRecord(maxAbsError: Double(r.comparison.maxAbs),
                                                         relativeL2: Double(r.comparison.relativeL2),
                                                         route: r.route, degraded: r.degraded, latency: r.seconds)
                if !r.caught.isEmpty { wrongCaught += 1 }
                guard r.matchesReference else {
                    wrongServed += 1
                    return (false, "\(phaseFailure(name)): output differs from the CPU reference (\(r.comparison))")
                }
                if r.degraded { return (false, "\(phaseFailure(name)): served only by the CPU fallback (degraded)") }
                return check(r)
            }
        }

        defer { pool?.shutdown() }
        _ = phase(.initialize) {
            let p = try Pool(configuration: configuration, environment: environment, origin: origin)
            pool = p
            let steps = try p.initialize()
            devices = p.contexts.map {
                let d = $0.deviceSummary
                var summary = DeviceSummary(context: $0.name, backend: $0.backend.rawValue, name: d.name, driver: d.driver,
                                            type: d.type, software: d.software, compute: d.compute,
                                            pid: p.configuration.isolation == .process ? $0.pid : nil)
                if let physical = $0.physicalDevice {
                    summary.index = physical.index
                    summary.uuid = physical.deviceUUID
                    summary.pciBusID = physical.pciBusID
                    summary.identity = physical.twinNote == nil ? nil : physical.identity
                }
                return summary
            }
            let bytes = steps.compactMap(\.bytes).reduce(0, +)
            return (true, "Initialization succeeded: \(p.contexts.count) contexts, \(p.plan.shards.count) shards, \(ReportFormat.bytes(bytes)) of weights uploaded")
        }
        guard phases.last?.result.success == true else { return finish(kind, phases, fault, recovery, numerics, pool, devices) }

        guard inference(.initialInference, { r in
            (true, "Initial inference successful (max abs error \(ReportFormat.scientific(Double(r.comparison.maxAbs))))")
        }) else { return finish(kind, phases, fault, recovery, numerics, pool, devices) }

        guard phase(.faultInjection, {
            guard let pool else { throw PoolError.noContext("no pool") }
            let f = try FaultInjector.inject(kind, into: pool, target: faultTarget)
            fault = f
            FaultInjector.keepCrashing(f, in: pool, times: keepCrashing)
            let how = f.simulated ? "simulated" : "real: \(f.mechanism ?? "")" + (f.pids.map { $0.isEmpty ? "" : ", pid \($0.map(String.init).joined(separator: ", "))" } ?? "")
            return (true, "Fault injection success: \(kind.rawValue) on \(f.targets.joined(separator: ", ")) (\(how))")
        }) else { return finish(kind, phases, fault, recovery, numerics, pool, devices) }

        _ = inference(.faultInference) { r in
            let moved = r.failovers.map { "shard \($0.shard) \($0.from)→\($0.to)" }.joined(separator: ", ")
            let caught = r.caught.map { "silent corruption caught by the \($0.detector) check on \($0.context)" + ($0.component.map { " (\($0))" } ?? "") }
            return (true, "Inference with fault succeeded (fault tolerance working)" + (caught.isEmpty ? "" : ": " + caught.joined(separator: "; "))
                    + (moved.isEmpty ? "" : (caught.isEmpty ? ": " : ", ") + "failed over \(moved)"))
        }

        _ = phase(.recovery) {
            guard let pool else { throw PoolError.noContext("no pool") }
            // Corruption no request met is the periodic scrub's to find: its pass comes first.
            if kind == .silentCorruption, pool.corruptionDetections.isEmpty { pool.scrub() }
            let r = pool.recover(using: strategy)
            recovery = r
            guard r.success else { return (false, r.message) }
            if kind == .cascadingFailure, pool.cascade.struck == nil {
                return (false, "Recovery failed to test what the scenario claims: the second crash never struck (recovery never reached its \(pool.cascade.drawnStage?.rawValue ?? "drawn") stage)")
            }
            if kind == .silentCorruption, pool.corruptionDetections.isEmpty {
                let checks = Self.integrityLabel(pool.configuration)
                // A transient corruption no check caught is gone; it failed nothing if every answer it could touch was right.
                guard fault?.corruption?.persistence == .transient, wrongServed == 0 else {
                    return (false, "Recovery failed: the silent corruption (\(fault?.corruption?.summary ?? "injected")) was never detected (checks: \(checks))")
                }
                return (true, "Recovery succeeded: nothing to restore — the transient corruption was not caught, and the one answer it could touch stayed within tolerance (checks: \(checks))")
            }
            var what: [String] = []
            if let restored = r.contextsRestored { what.append("restored \(restored.joined(separator: ", ")) from the source") }
            if !r.contextsRebuilt.isEmpty { what.append("rebuilt \(r.contextsRebuilt.joined(separator: ", "))") }
            if !r.contextsReconnected.isEmpty { what.append("reconnected \(r.contextsReconnected.joined(separator: ", "))") }
            if let second = pool.cascade.struck, let stage = pool.cascade.drawnStage {
                what.insert("a second crash of \(second.targets.joined(separator: ", ")) during its \(stage.rawValue) survived in \(r.rounds ?? 1) round\((r.rounds ?? 1) == 1 ? "" : "s")", at: 0)
            }
            what.append("\(ReportFormat.bytes(r.bytesUploaded)) re-uploaded")
            return (true, "Recovery succeeded: " + what.joined(separator: ", "))
        }

        _ = inference(.recoveryInference) { r in
            guard let pool else { return (false, "no pool") }
            let promised = promisedPlacementHolds(pool, route: r.route)
            return promised.0 ? (true, "Post-recovery inference successful (\(promised.1))")
                              : (false, "Post-recovery inference ran on the wrong contexts: \(promised.1)")
        }
        return finish(kind, phases, fault, recovery, numerics, pool, devices, (wrongServed, wrongCaught))
    }

    /// The silent-corruption checks a pool runs, for reports.
    public static func integrityLabel(_ configuration: PoolConfiguration) -> String {
        let verify = configuration.verifyEvery == 1 ? "every request" : configuration.verifyEvery == 0 ? "no request" : "every \(configuration.verifyEvery)th request"
        return "CPU reference per shard on \(verify); checksums \(configuration.integrity.checksums ? "on" : "off"); scrubbing \(configuration.integrity.scrubbing ? "on" : "off")"
    }

    /// progressive and coordinated promise the planned placement back; simple promises only
    /// that every shard is on a live context.
    private func promisedPlacementHolds(_ pool: Pool, route: [String]) -> (Bool, String) {
        switch strategy {
        case .progressive, .coordinated:
            return route == pool.placement.contexts ? (true, "back on the planned contexts") : (false, route.joined(separator: ", "))
        case .simple:
            let live = route.allSatisfy { pool.context(named: $0)?.state == .ready }
            return live ? (true, "served by \(Set(route).sorted().joined(separator: ", "))") : (false, route.joined(separator: ", "))
        }
    }

    private func phaseFailure(_ name: PhaseName) -> String {
        switch name {
        case .initialize: return "Initialization failed"
        case .initialInference: return "Initial inference failed"
        case .faultInjection: return "Fault injection failed"
        case .faultInference: return "Inference with fault failed"
        case .recovery: return "Recovery failed"
        case .recoveryInference: return "Post-recovery inference failed"
        }
    }

    private func finish(_ kind: FaultKind, _ phases: [Phase], _ fault: FaultRecord?, _ recovery: RecoveryRecord?,
                        _ numerics: [String: NumericsRecord], _ pool: Pool?, _ devices: [DeviceSummary],
                        _ answers: (served: Int, caught: Int) = (0, 0))
        -> (result: ScenarioResult, devices: [DeviceSummary]) {
        // When the pool first noticed the fault, and how struck processes ended.
        let fault = fault.flatMap { f in pool.map { FaultInjector.observed(f, in: $0) } ?? f }
        let processes = Dictionary(devices.compactMap { d in d.pid.map { (d.context, $0) } }, uniquingKeysWith: { a, _ in a })
        let success = phases.count == PhaseName.allCases.count && phases.allSatisfy(\.result.success)
        var result = ScenarioResult(scenario: kind.rawValue, description: ScenarioDescriptions.of(kind), overallSuccess: success,
                               phases: phases, fault: fault, recovery: recovery, numerics: numerics,
                               events: pool?.events.events ?? [], spans: pool?.events.spans ?? [],
                               counters: pool?.events.counters ?? [])
        result.processes = processes.isEmpty ? nil : processes
        if let demotions = pool?.demotions, !demotions.isEmpty { result.demotions = demotions }
        if let pool, kind == .silentCorruption || !pool.corruptionDetections.isEmpty || answers.served > 0 {
            result.corruption = CorruptionSummary(injected: fault?.corruption, detections: pool.corruptionDetections, injectedAt: fault?.start,
                                                  wrongAnswersServed: answers.served, wrongAnswersCaught: answers.caught,
                                                  isolated: pool.isolatedContexts)
        }
        return (result, devices)
    }
}
