import BrowserProtocol
import Foundation
import Transformer
import TransformerGPU
import VulkanCompute

/// How a webgpu context's engine is made at each start (and rebuild): by a script (scripted
/// engines), in this process (a device of its own, or a queue of the shared one), or in its
/// browser's process, spawned when it has none. Each start returns its timed steps.
struct EngineStart {
    let name: String
    let environment: GPUEnvironment
    let log: EventLog
    let shared: (device: ComputeDevice, queue: Int)?
    let host: BrowserHost?
    let homeDevice: PhysicalDeviceInfo?
    let watchdog: Duration
    let startDeadline: Duration
    let window: Int
    let integrity: IntegrityChecks
    let token: String

    /// `softwareOnly`: demoted to software Vulkan. `sabotaged`: this start crashes right after
    /// its device exists (a browser that keeps crashing).
    func start(softwareOnly: Bool, sabotaged: Bool) throws -> (any ContextEngine, [RecoveryStep]) {
        if let engines = environment.engines { return try startScripted(engines, sabotaged: sabotaged) }
        return host != nil ? try startRemote(softwareOnly: softwareOnly, crashOnStart: sabotaged)
                           : try startLocal(softwareOnly: softwareOnly, sabotaged: sabotaged)
    }

    /// Scripted engines: the script's start, timed as device creation.
    private func startScripted(_ engines: any EngineFactory, sabotaged: Bool) throws -> (any ContextEngine, [RecoveryStep]) {
        let start = ContinuousClock.now
        if sabotaged { throw VulkanError.deviceLost("\(name) crashed again while starting (simulated: a browser that keeps crashing)") }
        let engine = try engines.start(context: name, weights: environment.weights, cpu: environment.cpu)
        return (engine, [RecoveryStep(name: "device_creation", context: name, since: start, on: log, detail: "scripted")])
    }

    private func startLocal(softwareOnly: Bool, sabotaged: Bool) throws -> (any ContextEngine, [RecoveryStep]) {
        var steps: [RecoveryStep] = []
        func timed<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
            let start = ContinuousClock.now
            defer { steps.append(RecoveryStep(name: name, context: self.name, since: start, on: log)) }
            return try body()
        }
        let device: ComputeDevice
        if let shared {
            device = shared.device
        } else {
            let (physical, note) = try timed("device_query") {
                try environment.choosePhysicalDevice(identity: softwareOnly ? environment.softwareDevice?.identity : homeDevice?.identity)
            }
            if let note { log.record("device", context: name, note) }
            device = try timed("device_creation") { try environment.makeDevice(physical, label: name) }
        }
        if sabotaged {
            if shared == nil { device.destroy(reason: "simulated crash during start") }
            throw VulkanError.deviceLost("\(name) crashed again while starting (simulated: a browser that keeps crashing)")
        }
        let (image, note) = environment.weightImage(for: device.physical.info)
        if let note { log.record("device", context: name, note) }
        let stack = try ContextStack(device: device, queue: shared?.queue ?? 0, config: environment.config, integrity: integrity,
                                     label: name, image: image) { step, body in try timed(step, body) }
        return (LocalEngine(stack: stack, sharedQueue: shared?.queue, name: name), steps)
    }

    /// Process isolation: the browser's live process (spawned when it has none), then a
    /// connection to this context's socket. The process's start steps are placed on the pool's
    /// clock: `process_spawn` (posix_spawn until the worker's main), then what the worker timed.
    private func startRemote(softwareOnly: Bool, crashOnStart: Bool) throws -> (any ContextEngine, [RecoveryStep]) {
        guard let host else { throw PoolError.isolation("\(name) has no browser process host") }
        let (process, spawnedAt) = try host.liveProcess(crashOnStart: crashOnStart,
                                                         deviceIdentity: softwareOnly ? environment.softwareDevice?.identity : nil)
        let remote = try RemoteEngine(context: name, host: host, process: process, token: token, watchdog: watchdog,
                                      startDeadline: startDeadline, window: window)
        if let home = homeDevice, !softwareOnly, remote.deviceIdentity != home.identity {
            log.record("device", context: name, "device \(home.index) (\(home.identity)) is gone: rebuilt on \(remote.deviceName) (\(remote.deviceIdentity))")
        }
        // The worker's clock is CLOCK_MONOTONIC; ours is the log's. Both tick together.
        let (ourNow, theirNow) = (log.now, WireStep.monotonicNanos)
        func offset(_ nanos: UInt64) -> Double { ourNow - Double(Int64(bitPattern: theirNow &- nanos)) / 1e9 }
        let sharedSteps: Set<String> = ["process_start", "weight_mapping", "instance_creation", "device_query"]
        var steps: [RecoveryStep] = []
        for step in remote.startupSteps {
            if step.name == "process_start" {
                if let spawnedAt {
                    let began = log.offset(of: spawnedAt)
                    steps.append(RecoveryStep(name: "process_spawn", context: name, duration: max(0, offset(step.startNanos) - began),
                                              detail: "posix_spawn of pid \(process.pid) until its main", start: began))
                }
                continue
            }
            if sharedSteps.contains(step.name) && spawnedAt == nil { continue }
            steps.append(RecoveryStep(name: step.name, context: name, duration: step.seconds, detail: "in pid \(process.pid)",
                                      start: offset(step.startNanos)))
        }
        return (remote, steps)
    }
}
