import Foundation
import Transformer
import VulkanCompute

/// The weights of one model component on one device: a buffer per Hugging Face tensor,
/// uploaded once (mapped and written in place where memory is unified). Dropping it is the real
/// teardown of a component failure; reloading uploads exactly `bytes` again.
final class ComponentWeights: @unchecked Sendable {  // immutable after init
    let component: ModelComponent
    let buffers: [String: DeviceBuffer]
    let bytes: Int
    let uploadSeconds: Double

    init(_ component: ModelComponent, from store: WeightStore, device: ComputeDevice, channel: Channel) throws {
        self.component = component
        let start = ContinuousClock.now
        var buffers: [String: DeviceBuffer] = [:]
        var bytes = 0
        for tensor in try store.tensors(of: component) {
            let buffer = try DeviceBuffer(device: device, size: tensor.byteCount, label: tensor.name)
            try tensor.withUnsafeBufferPointer { try buffer.write(UnsafeRawBufferPointer($0), via: channel) }
            buffers[tensor.name] = buffer
            bytes += tensor.byteCount
        }
        self.buffers = buffers
        self.bytes = bytes
        uploadSeconds = (ContinuousClock.now - start).seconds
    }

    /// The buffer of a tensor by its canonical name.
    subscript(_ name: String) -> DeviceBuffer {
        get throws {
            guard let b = buffers[name] else { throw GPUModelError.componentMissing("\(component.id): no tensor \(name)") }
            return b
        }
    }
}

/// Errors of the GPU model path that are not Vulkan's.
public enum GPUModelError: Error, Sendable, CustomStringConvertible, Equatable {
    /// A component of the shard is not loaded on this context (its weights were torn down).
    case componentMissing(String)
    public var description: String {
        switch self {
        case .componentMissing(let what): return "component missing: \(what)"
        }
    }
}
