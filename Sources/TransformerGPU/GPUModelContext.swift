import Foundation
import Transformer
import VulkanCompute

/// A model's presence on one device and channel: the weights of the components it holds,
/// the activation buffers, and a recorded batch per shard (re-recorded only when its components
/// or the channel's connection change). One context runs one shard at a time.
public final class GPUModelContext: @unchecked Sendable {  // mutable state under `lock`
    public let config: ModelConfig
    public let channel: Channel
    public let kernels: GPUKernels
    private let act: ActivationBuffers
    let lock = NSLock()
    /// One shard at a time: the activation buffers are shared by every run on this context, so
    /// concurrent requests queue here (and pipeline across contexts).
    let runLock = NSLock()
    var weights: [ModelComponent: ComponentWeights] = [:]
    private var batches: [[ModelComponent]: CommandBatch] = [:]
    /// Checksummed Linears: the sums each Linear's check gathers in a run (host-visible), and
    /// where each Linear's are.
    let checks: DeviceBuffer?
    let checkLayout: GEMMCheck.Layout
    /// Transient corruptions: the words to put back after the next run that reads them.
    var transient: [(component: ModelComponent, buffer: DeviceBuffer, offset: Int, words: [UInt32])] = []

    /// The pool's weights in this context's kernel layout, imported instead of copied where the
    /// device can (`ComponentWeights`); nil: every upload copies.
    public let image: WeightImage?

    public var device: ComputeDevice { channel.device }

    /// Whether loads import from `image` (the device can, and the image is of these kernels' layout).
    public var importsWeights: Bool { image.map(kernels.canImport) ?? false }

    /// What one upload moved.
    public struct UploadStats: Sendable {
        public let bytes: Int
        public let seconds: Double
        /// Of `seconds`, computing checksums and digests from the source (integrity checks on).
        public let integritySeconds: Double
        /// Of `bytes`, those imported from the weight image rather than copied.
        public var importedBytes: Int = 0
    }

    /// What one shard run took: wall time, and the part of it the GPU batch took.
    public struct RunStats: Sendable {
        public let seconds: Double
        public let batchSeconds: Double
        public let gpuSeconds: [(label: String, seconds: Double)]
        /// What the checksums caught, when the run was asked not to fail on it (measurement).
        public var checksumFinding: CorruptionFinding? = nil
        /// Of `seconds`, the host's checksum test.
        public var checkSeconds: Double = 0
    }

    /// Whether batches carry a timestamp per dispatch (`RunStats.gpuSeconds`): for profiling
    /// (`bench forward --breakdown`); off in the pool, where it would only add queries.
    public let timestamps: Bool

    public init(channel: Channel, config: ModelConfig, kernels: GPUKernels, timestamps: Bool = false, image: WeightImage? = nil) throws {
        self.image = image
        self.config = config
        self.channel = channel
        self.kernels = kernels
        self.timestamps = timestamps
        act = try ActivationBuffers(device: channel.device, config: config)
        checkLayout = GEMMCheck.layout(config)
        checks = kernels.check == nil ? nil
            : try DeviceBuffer(device: channel.device, size: max(1, checkLayout.count) * 4, label: "checksum sums", location: .host)
    }

    /// The checks this context runs on its device.
    public var integrity: IntegrityChecks { kernels.integrity }

    /// Bytes of the activation buffers.
    public var activationBytes: Int { act.bytes }

    /// Uploads a component's weights (replacing any copy already here).
    @discardableResult
    public func load(_ component: ModelComponent, from store: WeightStore) throws -> UploadStats {
        let w = try ComponentWeights(component, from: store, kernels: kernels, channel: channel, integrity: kernels.integrity, image: image)
        install(w)
        return UploadStats(bytes: w.bytes, seconds: w.uploadSeconds, integritySeconds: w.integritySeconds, importedBytes: w.importedBytes)
    }

    /// Puts `w` in place of the component's weights; batches that bound the old buffers go.
    func install(_ w: ComponentWeights) {
        lock.withLock {
            weights[w.component] = w
            batches = batches.filter { !$0.key.contains(w.component) }
            transient.removeAll { $0.component == w.component }
        }
    }

    /// Drops a component's weights (the real teardown of a component failure) and its batches.
    public func unload(_ component: ModelComponent) {
        lock.withLock {
            weights[component] = nil
            batches = batches.filter { !$0.key.contains(component) }
            transient.removeAll { $0.component == component }
        }
    }

    public var loadedComponents: Set<ModelComponent> { lock.withLock { Set(weights.keys) } }

    /// Bytes of the weights held here.
    public var weightBytes: Int { lock.withLock { weights.values.reduce(0) { $0 + $1.bytes } } }

    /// Runs consecutive components (a shard) on `state`: uploads the input (or hidden state and
    /// mask), submits the shard's batch, reads the hidden state (and pooled output) back.
    /// `enforcingChecksums`: false only to measure — a failed checksum then returns the output
    /// anyway, with the finding in the stats.
    @discardableResult
    public func run(_ components: [ModelComponent], state: inout ActivationState, enforcingChecksums: Bool = true) throws -> RunStats {
        runLock.lock()
        defer { runLock.unlock() }
        let start = ContinuousClock.now
        guard let first = components.first else { return RunStats(seconds: 0, batchSeconds: 0, gpuSeconds: []) }
        let batch = try batch(for: components)
        try upload(state, startingWith: first)
        let timing: BatchTiming
        do {
            timing = try channel.submit(batch)
        } catch {
            putBackTransient(after: components)
            throw error
        }
        putBackTransient(after: components)
        // The checksums are read before anything of the run leaves: a wrong product fails the
        // request here, and the state stays as it came (for the shard's failover).
        let checkStart = ContinuousClock.now
        let finding = try checkFinding(components)
        let checkSeconds = (ContinuousClock.now - checkStart).seconds
        if let finding, enforcingChecksums { throw finding }
        let s = config.sequenceLength, h = config.hiddenSize
        var hidden = [Float](repeating: 0, count: s * h)
        try hidden.withUnsafeMutableBytes { try act.hidden.read(into: $0, via: channel) }
        let pooled = components.contains(.pooler) && config.hasPooler ? try act.pooled.readFloats(h, via: channel) : nil
        // `state` changes only once every read has succeeded: a run that fails part-way (a fault
        // between the hidden and the pooled read-back) must leave the input intact for the shard's
        // failover, or the shard would be applied twice.
        state.hidden = hidden
        if let pooled { state.pooled = pooled }
        return RunStats(seconds: (ContinuousClock.now - start).seconds, batchSeconds: timing.wallSeconds,
                        gpuSeconds: timing.gpuSeconds, checksumFinding: finding, checkSeconds: checkSeconds)
    }

    /// Records the shard's batch if none is current (new components, or a reconnected channel).
    /// A dropped channel is not re-recorded here: the submit reports `.queueLost`.
    private func batch(for components: [ModelComponent]) throws -> CommandBatch {
        try lock.withLock {
            if let cached = batches[components], channel.isCurrent(cached) || !channel.isConnected { return cached }
            var steps = ComponentSteps(config: config, kernels: kernels, act: act)
            if let checks { steps.checks = (checks, checkLayout) }
            var all: [BatchStep] = []
            for c in components {
                guard let w = weights[c] else {
                    throw GPUModelError.componentMissing("\(c.id) is not loaded on \(channel.label)")
                }
                all += try steps.steps(c, w)
            }
            let batch = try channel.record(all, timestamps: timestamps, label: components.map(\.id).joined(separator: "+"))
            batches[components] = batch
            return batch
        }
    }

    private func upload(_ state: ActivationState, startingWith first: ModelComponent) throws {
        let s = config.sequenceLength, h = config.hiddenSize
        try state.additiveMask.withUnsafeBytes { try act.mask.write($0, via: channel) }
        if first == .embeddings {
            switch state.input {
            case let .tokens(ids, _, types):
                try ids.map { UInt32(bitPattern: $0) }.withUnsafeBytes { try act.ids?.write($0, via: channel) }
                try types.map { UInt32(bitPattern: $0) }.withUnsafeBytes { try act.types?.write($0, via: channel) }
            case let .pixels(values):
                try values.withUnsafeBytes { try act.pixels?.write($0, via: channel) }
            }
        } else {
            guard state.hidden.count == s * h else {
                throw VulkanError.invalidUse("hidden state of \(state.hidden.count) floats, expected \(s * h)")
            }
            try state.hidden.withUnsafeBytes { try act.hidden.write($0, via: channel) }
        }
    }
}
