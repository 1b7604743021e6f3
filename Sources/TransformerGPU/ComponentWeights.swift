import Foundation
import Transformer
import VulkanCompute

/// The weights of one model component on one device: a buffer per Hugging Face tensor,
/// uploaded once (mapped and written in place where memory is unified). Dropping it is the real
/// teardown of a component failure; reloading uploads exactly `bytes` again.
final class ComponentWeights: @unchecked Sendable {  // immutable after init
    let component: ModelComponent
    let buffers: [String: DeviceBuffer]
    /// The GEMM weights' row pitch in floats (`GEMMFamily.weightPitch`), by tensor name.
    let gemmPitches: [String: Int]
    /// Bytes of the tensors uploaded (a padded row pitch adds device memory, not data).
    let bytes: Int
    let uploadSeconds: Double

    init(_ component: ModelComponent, from store: WeightStore, kernels: GPUKernels, channel: Channel) throws {
        self.component = component
        let start = ContinuousClock.now
        var buffers: [String: DeviceBuffer] = [:]
        var pitches: [String: Int] = [:]
        var bytes = 0
        for tensor in try store.tensors(of: component) {
            let buffer: DeviceBuffer
            if Self.isGEMMWeight(tensor.name, shape: tensor.shape) {
                let rows = tensor.shape[0], k = tensor.shape.dropFirst().reduce(1, *)
                buffer = try tensor.withUnsafeBufferPointer { try kernels.weightBuffer($0, rows: rows, k: k, label: tensor.name, via: channel) }
                pitches[tensor.name] = kernels.family.weightPitch(k: k)
            } else {
                buffer = try DeviceBuffer(device: kernels.device, size: tensor.byteCount, label: tensor.name)
                try tensor.withUnsafeBufferPointer { try buffer.write(UnsafeRawBufferPointer($0), via: channel) }
            }
            buffers[tensor.name] = buffer
            bytes += tensor.byteCount
        }
        self.buffers = buffers
        gemmPitches = pitches
        self.bytes = bytes
        uploadSeconds = (ContinuousClock.now - start).seconds
    }

    /// The weights of Linear layers (and of ViT's patch projection, a convolution run as a GEMM):
    /// every `.weight` of two or more dimensions except the embedding tables, which are gathered
    /// by row, not multiplied. `gemmWeight` checks the rule where the weights are used.
    static func isGEMMWeight(_ name: String, shape: [Int]) -> Bool {
        shape.count >= 2 && name.hasSuffix(".weight") && !name.hasSuffix("_embeddings.weight")
    }

    /// A GEMM weight's buffer, checked to be laid out with the row pitch the GEMM will read.
    func gemmWeight(_ name: String, pitch: Int) throws -> DeviceBuffer {
        let buffer = try self[name]
        guard gemmPitches[name] == pitch else {
            throw GPUModelError.weightLayout("\(component.id): \(name) has row pitch \(gemmPitches[name].map(String.init) ?? "none (not a GEMM weight)"), the GEMM reads \(pitch)")
        }
        return buffer
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
    /// A weight is not in the layout its kernel reads (a bug in poolfault, not in the input).
    case weightLayout(String)
    public var description: String {
        switch self {
        case .componentMissing(let what): return "component missing: \(what)"
        case .weightLayout(let what): return "weight layout: \(what)"
        }
    }
}
