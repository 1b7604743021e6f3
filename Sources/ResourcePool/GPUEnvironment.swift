import Foundation
import Shaders
import Transformer
import TransformerGPU
import VulkanCompute

/// What every webgpu context shares: the Vulkan instance, how to choose the physical device,
/// the model, and its host weights. A rebuilt context queries the physical devices afresh,
/// as a restarted browser would.
public final class GPUEnvironment: @unchecked Sendable {  // immutable after init, except the lazily made shared file
    /// Nil on scripted engines (no driver at all).
    public let instance: VulkanInstance?
    /// Scripted engines: the contexts' engines come from here instead of Vulkan or browser processes.
    let engines: (any EngineFactory)?
    public let selection: DeviceSelection
    public let config: ModelConfig
    public let weights: WeightStore
    public let cpu: CPUReference
    /// The device chosen at start (for reports and the software-fallback message).
    public let initialDevice: PhysicalDeviceInfo
    /// Every physical device at start, by index (what `--devices` indices name).
    public let physicalDevices: [PhysicalDeviceInfo]
    /// The first software Vulkan device (lavapipe), the ladder's middle rung; nil if none.
    public var softwareDevice: PhysicalDeviceInfo? { physicalDevices.first(where: \.isSoftware) }
    public let selectionReason: String
    /// Devices take the staging path even where memory is unified (`ComputeDevice.unifiedMemory`):
    /// a discrete GPU's uploads and read-backs, exercised on lavapipe.
    public let stagedUploads: Bool

    /// Process isolation: the host weights in shared memory, mapped by every browser process.
    private var sharedFile: SharedWeightFile?
    private let sharedLock = NSLock()
    /// The weight images made so far (`weightImage(for:)`), one per kernel layout.
    private var images: [WeightImage] = []
    private var failedLayouts: [WeightImage.Layout] = []

    /// `sharedWeights`: the memfd `weights` already live in (so host weights exist once); made
    /// on first use from `weights` otherwise.
    public init(instance: VulkanInstance, selection: DeviceSelection, config: ModelConfig, weights: WeightStore,
                cpu: CPUReference, stagedUploads: Bool = ComputeDevice.stagedUploadsRequested,
                sharedWeights: SharedWeightFile? = nil) throws {
        sharedFile = sharedWeights
        self.instance = instance
        engines = nil
        self.stagedUploads = stagedUploads
        self.selection = selection
        self.config = config
        self.weights = weights
        self.cpu = cpu
        let devices = try instance.physicalDevices()
        let (index, reason) = try selection.choose(from: devices.map(\.info))
        initialDevice = devices[index].info
        physicalDevices = devices.map(\.info)
        selectionReason = reason
    }

    /// A pool on scripted engines: no instance, no device, no process (see `Script`). Internal:
    /// only the pool core's tests build one (the simulator, the contracts, the verdict sweep's
    /// scripted cells); no command can run on it, so no user result ever comes from a script.
    init(scripted engines: any EngineFactory, config: ModelConfig, weights: WeightStore, cpu: CPUReference) {
        instance = nil
        self.engines = engines
        selection = DeviceSelection()
        self.config = config
        self.weights = weights
        self.cpu = cpu
        initialDevice = .scripted(name: "scripted device")
        physicalDevices = [initialDevice]
        selectionReason = "scripted engines"
        stagedUploads = false
    }

    /// The weights' shared-memory file for browser processes (made once, on first use).
    func sharedWeightFile() throws -> SharedWeightFile {
        try sharedLock.withLock {
            if let sharedFile { return sharedFile }
            let made = try SharedWeightFile(copying: weights)
            sharedFile = made
            return made
        }
    }

    /// The weights in the kernel layout of contexts on `info`, made once per layout, for
    /// contexts to import instead of copy; nil where that device cannot import host memory (or
    /// uploads are staged, or POOLFAULT_HOST_IMPORT=0), or the image could not be made (then
    /// every context copies, as before, and `note` says why, the first time).
    func weightImage(for info: PhysicalDeviceInfo) -> (image: WeightImage?, note: String?) {
        guard engines == nil, !stagedUploads, ComputeDevice.hostImportAllowed,
              let layout = GPUKernels.weightLayout(for: info, config: config) else { return (nil, nil) }
        return sharedLock.withLock {
            if let made = images.first(where: { $0.layout == layout }) { return (made, nil) }
            guard !failedLayouts.contains(layout) else { return (nil, nil) }  // said once, not tried again at every start
            do {
                let made = try WeightImage(store: weights, layout: layout)
                images.append(made)
                return (made, nil)
            } catch {
                failedLayouts.append(layout)
                return (nil, "weights are copied, not imported: the weight image (\(layout)) could not be made: \(error)")
            }
        }
    }

    /// A logical device on `physical`, with this environment's upload path.
    func makeDevice(_ physical: PhysicalDevice, label: String, queueCount: Int = 1) throws -> ComputeDevice {
        try ComputeDevice(physical: physical, label: label, queueCount: queueCount, stagedUploads: stagedUploads)
    }

    /// A fresh physical-device query and choice: the device with `identity` when it is still
    /// there (a browser's own device), else the selection's choice, with a note saying so.
    func choosePhysicalDevice(identity: String? = nil) throws -> (device: PhysicalDevice, note: String?) {
        guard let instance else { throw PoolError.configuration("scripted engines have no Vulkan device to choose") }
        return try selection.choose(among: try instance.physicalDevices(), identity: identity)
    }
}
