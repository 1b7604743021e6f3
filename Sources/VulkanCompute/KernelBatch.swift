import CVulkan
import Dispatch
import Foundation

/// Kernels made together: each one's SPIR-V compiled as it is added, then every pipeline built
/// side by side, on a thread each, under one hold of the device lock (so no teardown can run
/// meanwhile, and the builders need not take the lock themselves). Vulkan lets one device
/// create pipelines on several threads at once, and a driver's shader compiler is most of a
/// context's start: on lavapipe the two big kernels take as long together as one alone.
public final class KernelBatch {
    public let device: ComputeDevice
    private let compiler: ShaderCompiler
    private var kernels: [Kernel] = []
    private var built = false

    public init(device: ComputeDevice, compiler: ShaderCompiler = .shared) {
        self.device = device
        self.compiler = compiler
    }

    /// A kernel of the batch, usable once `build` has returned.
    public func add(_ source: ShaderSource, bindings: [BindingKind], pushConstantSize: Int = 0,
                    defines: [String: String] = [:]) throws -> Kernel {
        let kernel = try Kernel(unbuiltOn: device, source: source, bindings: bindings, pushConstantSize: pushConstantSize,
                                specialization: [], defines: defines, compiler: compiler)
        kernels.append(kernel)
        return kernel
    }

    /// Seconds spent compiling GLSL for the batch (0 when every variant was cached).
    public var compileSeconds: Double { kernels.reduce(0) { $0 + $1.compileSeconds } }

    /// Builds every kernel added; returns the seconds it took, start to last pipeline. When one
    /// fails, every kernel of the batch is released and its error thrown (the first, in order).
    /// Once built, a batch builds nothing again (0 s).
    @discardableResult
    public func build() throws -> Double {
        guard !built else { return 0 }
        let start = ContinuousClock.now
        try Self.build(kernels, on: device, stage: "create \(kernels.count) kernels")
        built = true
        return (ContinuousClock.now - start).seconds
    }

    /// Builds `kernels` (made unbuilt on `device`) side by side under one hold of its lock, then
    /// adopts them (a concurrent destroy sees them from then on); one failure releases them all.
    static func build(_ kernels: [Kernel], on device: ComputeDevice, stage: String) throws {
        try device.withDevice(stage) { dev in
            let failures = Failures()
            struct Device: @unchecked Sendable { let handle: VkDevice }  // the device lock's holder waits for every builder
            let shared = Device(handle: dev)
            DispatchQueue.concurrentPerform(iterations: kernels.count) { i in
                do { try kernels[i].build(shared.handle) } catch { failures.record(error, at: i) }
            }
            if let error = failures.first {
                for kernel in kernels { kernel.releaseVulkanObjects() }
                throw error
            }
            device.pipelineCache.save(on: device, device: dev)
            for kernel in kernels { device.adopt(kernel) }
        }
    }
}

/// Errors of builders running side by side, by index.
private final class Failures: @unchecked Sendable {  // `errors` under `lock`
    private let lock = NSLock()
    private var errors: [(Int, any Error)] = []
    func record(_ error: any Error, at index: Int) { lock.withLock { errors.append((index, error)) } }
    var first: (any Error)? { lock.withLock { errors.min { $0.0 < $1.0 }?.1 } }
}
