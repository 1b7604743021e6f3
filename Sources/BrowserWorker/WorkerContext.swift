import BrowserLaunch
import BrowserProtocol
import Foundation
import Shaders
import Transformer
import TransformerGPU
import VulkanCompute

/// One context inside a browser process: its channel (queue), pipelines, the weights of its
/// components and the heartbeat. Turns a request into a reply; knows no pool, plan or strategy.
final class WorkerContext: @unchecked Sendable {  // GPU objects immutable after init; hang under `lock`
    let name: String
    let stack: ContextStack
    let weights: WeightStore
    private var device: ComputeDevice { stack.device }
    private var channel: Channel { stack.channel }
    private var model: GPUModelContext { stack.model }
    private let lock = NSLock()
    /// gpu_hang's dispatch and its flag, kept alive while the queue runs it.
    private var hang: (kernel: Kernel, flag: DeviceBuffer)?

    init(name: String, device: ComputeDevice, queue: Int, weights: WeightStore, image: WeightImage?, integrity: IntegrityChecks = .none,
         steps: inout [WireStep]) throws {
        self.name = name
        self.weights = weights
        stack = try ContextStack(device: device, queue: queue, config: weights.config, integrity: integrity, label: name,
                                 image: image) { step, body in
            try Timed.step(step, &steps, body)
        }
    }

    /// The reply to one request.
    func handle(_ message: Message) -> Message {
        switch message {
        case let .load(id, ids):
            return reply(id) {
                let start = ContinuousClock.now
                var bytes = 0
                for c in try components(ids) {
                    bytes += try model.load(c, from: weights).bytes
                    weights.releaseMappedPages(of: c)  // on the device now; see releaseMappedPages
                }
                return .ok(id: id, bytes: UInt64(bytes), seconds: (ContinuousClock.now - start).seconds)
            }
        case let .unload(id, ids):
            return reply(id) {
                for c in try components(ids) { model.unload(c) }
                return .ok(id: id, bytes: 0, seconds: 0)
            }
        case let .run(id, ids, tensors):
            return reply(id) {
                let list = try components(ids)
                var state = try WireActivations.state(from: tensors, config: weights.config, startsWithEmbeddings: list.first == .embeddings)
                try model.run(list, state: &state)
                return .ran(id: id, tensors: WireActivations.tensors(result: state))
            }
        case let .heartbeat(id, micros):
            return reply(id) {
                try stack.heartbeat(deadline: .microseconds(Int64(min(micros, 600_000_000))))
                return .alive(id: id, components: model.loadedComponents.map(\.id).sorted())
            }
        case let .faultControl(id, action, argument):
            return reply(id) { try faultControl(id, action, argument) }
        case let .scrub(id):
            return reply(id) {
                let report = try model.scrub()
                return .scrubbed(id: id, findings: report.findings.map(\.wire), bytes: UInt64(report.bytes), seconds: report.seconds)
            }
        default:
            return .failed(id: 0, failure: .invalidRequest, message: "\(name) does not serve \(message) as a request")
        }
    }

    /// Not part of serving: the faults a pool asks a live process to suffer.
    private func faultControl(_ id: UInt64, _ action: String, _ argument: String) throws -> Message {
        switch action {
        case "drop_component":
            let c = try components([argument])
            model.unload(c[0])
            return .ok(id: id, bytes: UInt64(weights.bytes(of: c[0])), seconds: 0)
        case "hang":
            try startHang()
            return .ok(id: id, bytes: 0, seconds: 0)
        case "corrupt":
            // "component<US>spec": corrupt the component's weights in this device's memory.
            let parts = argument.split(separator: "\u{1F}", maxSplits: 1).map(String.init)
            guard parts.count == 2, let spec = CorruptionSpec(wire: parts[1]) else {
                throw WorkerError.invalidRequest("corrupt needs component and spec, got '\(argument)'")
            }
            let record = try model.corrupt(try components([parts[0]])[0], spec)
            return .note(id: id, text: String(decoding: try JSONEncoder().encode(record), as: UTF8.self))
        default:
            throw WorkerError.invalidRequest("unknown fault-control action '\(action)'")
        }
    }

    /// Submits a dispatch that spins until a flag nobody sets (bounded, see hang.comp) on this
    /// context's queue, without waiting: every later request on the queue waits behind it.
    private func startHang() throws {
        try lock.withLock {
            let kernel = try Kernel(device: device, source: ShaderLibrary.hang, bindings: [.storageBuffer], pushConstantSize: 4)
            let flag = try DeviceBuffer(device: device, size: 4 * 65, label: "hang.flag")
            try [UInt32](repeating: 0, count: 65).withUnsafeBytes { try flag.write($0, via: channel) }
            hang = (kernel, flag)
            let groups = UInt32(min(65_535, device.physical.info.limits.maxComputeWorkGroupCount.first ?? 65_535))
            do {
                // A zero deadline: submit and return at once (the wait "times out" by design).
                try channel.run([.dispatch(Dispatch(kernel, buffers: [flag], push: [1 << 24], groups: (groups, 1, 1), label: "hang"))],
                                label: "gpu_hang", deadline: .zero)
            } catch VulkanError.timeout {
                return
            }
        }
    }

    private func components(_ ids: [String]) throws -> [ModelComponent] {
        try ids.map { id in
            guard let c = ModelComponent(id: id), weights.config.components.contains(c) else {
                throw WorkerError.invalidRequest("\(name): '\(id)' is not a component of \(weights.config.name)")
            }
            return c
        }
    }

    private func reply(_ id: UInt64, _ body: () throws -> Message) -> Message {
        do { return try body() } catch let finding as CorruptionFinding {
            return .failed(id: id, failure: .corruption, message: finding.wire)
        } catch {
            return .failed(id: id, failure: WorkerError.wireFailure(error), message: "\(error)")
        }
    }
}

/// Failures of a request itself (not of the GPU).
enum WorkerError: Error, CustomStringConvertible {
    case invalidRequest(String)
    var description: String {
        switch self { case .invalidRequest(let why): return "invalid request: \(why)" }
    }

    /// How the pool must read an error: a fault (device, queue, deadline, a missing component)
    /// or a request it should not have sent.
    static func wireFailure(_ error: any Error) -> WireFailure {
        switch error {
        case VulkanError.deviceLost: return .deviceLost
        case VulkanError.queueLost: return .queueLost
        case VulkanError.timeout: return .timeout
        case GPUModelError.componentMissing: return .componentMissing
        case is CorruptionFinding: return .corruption
        case is WorkerError, is ModelUsageError, is ModelDataError: return .invalidRequest
        default: return .internalError
        }
    }
}

/// Times a start step on the machine's monotonic clock.
enum Timed {
    static func step<T>(_ name: String, _ steps: inout [WireStep], _ body: () throws -> T) rethrows -> T {
        let start = WireStep.monotonicNanos
        let value = try body()
        steps.append(WireStep(name: name, startNanos: start, seconds: Double(WireStep.monotonicNanos - start) / 1e9))
        return value
    }
}
