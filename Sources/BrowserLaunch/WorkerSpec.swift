import Foundation
import Transformer
import TransformerGPU
import VulkanCompute

/// Everything a browser process needs to start, from the pool: passed as JSON on its command
/// line (nothing secret: the run's token comes through a pipe, `tokenDescriptor`, so it is in
/// neither the command line nor /proc/<pid>/environ).
public struct WorkerSpec: Codable, Sendable, Equatable {
    /// The browser ("chrome") and the contexts it hosts ("chrome", "chrome-2"), in order.
    public var browser: String
    public var contexts: [String]
    /// Queue mode: the contexts share one VkDevice, a queue each (round robin when it has fewer).
    public var sharedDevice: Bool
    public var config: ModelConfig
    /// A safetensors file with `config`'s canonical names (the pool's shared memory, reopened
    /// through /proc/self/fd), or a Hugging Face model directory when `weightsDirectory`.
    public var weightsPath: String
    public var weightsDirectory: Bool
    /// How the weights are described in reports ("seeded weights (seed 42)").
    public var weightsLabel: String
    /// Device selection, as the pool's: an index, a name fragment, or automatic.
    public var deviceIndex: Int?
    public var deviceName: String?
    public var requireGPU: Bool
    public var stagedUploads: Bool
    /// The listening socket of each context (same order as `contexts`), inherited descriptors.
    public var listenDescriptors: [Int32]
    /// The death watch's shared page (`DeathWatch`): the worker holds its mutex for life.
    public var deathWatchDescriptor: Int32
    /// The pool's pid: the worker dies with it (PR_SET_PDEATHSIG) and refuses to start without it.
    public var parentPID: Int32
    /// SPIR-V the pool has seen compiled (`ShaderCompiler.exportCache`); written back after a
    /// start that compiled something new.
    public var spirvCachePath: String
    /// Where the worker appends validation-layer messages, one per line, for the pool to report.
    public var validationPath: String
    /// A browser that keeps crashing: the process kills itself (SIGKILL) right after it has
    /// created its devices, as a GPU process crashing at start would.
    public var crashOnStart: Bool
    /// `--devices`: the browser's own physical device, by identity (`PhysicalDeviceInfo.identity`); the selection decides when it is gone.
    public var deviceIdentity: String?
    /// The silent-corruption checks its contexts run on their devices (checksums, scrubbing).
    public var integrity: IntegrityChecks
    /// The pool's weight image (an inherited read-only descriptor's path) and the kernel layout
    /// it was made for: contexts whose kernels read that layout import it instead of copying.
    public var weightImagePath: String?
    public var weightImageLayout: WeightImage.Layout?

    /// The Khronos validation layer in this process: on when the pool's own instance has it
    /// (`--validate` or POOLFAULT_VALIDATE), so a flag reaches every browser without the
    /// environment carrying it.
    public var validation = false
    /// Requests a connection may have in flight: the pool's window, this process's queue.
    public var requestsInFlight = 16
    /// A deliberate misuse of Vulkan on the first context's device (`--vulkan-misuse`, hidden).
    public var vulkanMisuse: VulkanMisuse?

    /// The read end of a pipe holding the run's token (the worker reads it to the end and closes it).
    public var tokenDescriptor: Int32 = -1

    public init(browser: String, contexts: [String], sharedDevice: Bool, config: ModelConfig, weightsPath: String,
                weightsDirectory: Bool, weightsLabel: String, deviceIndex: Int?, deviceName: String?, requireGPU: Bool,
                stagedUploads: Bool, listenDescriptors: [Int32], deathWatchDescriptor: Int32, parentPID: Int32, spirvCachePath: String, validationPath: String,
                crashOnStart: Bool, deviceIdentity: String? = nil, integrity: IntegrityChecks = .none) {
        self.deviceIdentity = deviceIdentity
        self.integrity = integrity
        self.browser = browser; self.contexts = contexts; self.sharedDevice = sharedDevice; self.config = config
        self.weightsPath = weightsPath; self.weightsDirectory = weightsDirectory; self.weightsLabel = weightsLabel
        self.deviceIndex = deviceIndex; self.deviceName = deviceName; self.requireGPU = requireGPU
        self.stagedUploads = stagedUploads; self.listenDescriptors = listenDescriptors
        self.deathWatchDescriptor = deathWatchDescriptor; self.parentPID = parentPID
        self.spirvCachePath = spirvCachePath; self.validationPath = validationPath; self.crashOnStart = crashOnStart
    }

    public var selection: DeviceSelection {
        if let i = deviceIndex { return DeviceSelection(choice: .index(i), requireGPU: requireGPU) }
        if let n = deviceName { return DeviceSelection(choice: .name(n), requireGPU: requireGPU) }
        return DeviceSelection(choice: .automatic, requireGPU: requireGPU)
    }
}
