import Transformer
import VulkanCompute

/// The activation buffers of one model on one device, sized once for the model's sequence
/// length and shared by every component the context holds (components run one at a time).
final class ActivationBuffers: @unchecked Sendable {  // immutable after init
    let hidden, tmp, q, k, v, ctx, ffn, mask, pooled: DeviceBuffer
    /// BERT: token ids and token types (uint32). ViT: pixels, patches and patch embeddings.
    let ids, types, pixels, patches, patchOut: DeviceBuffer?
    /// Total bytes allocated, for reports.
    let bytes: Int

    init(device: ComputeDevice, config: ModelConfig) throws {
        let s = config.sequenceLength, h = config.hiddenSize
        func buffer(_ floats: Int, _ label: String) throws -> DeviceBuffer {
            try DeviceBuffer(device: device, size: max(floats, 4) * 4, label: label)
        }
        hidden = try buffer(s * h, "hidden")
        tmp = try buffer(s * h, "tmp")
        q = try buffer(s * h, "q")
        k = try buffer(s * h, "k")
        v = try buffer(s * h, "v")
        ctx = try buffer(s * h, "ctx")
        ffn = try buffer(s * config.intermediateSize, "ffn")
        mask = try buffer(s, "mask")
        pooled = try buffer(h, "pooled")
        if config.kind == .bert {
            ids = try buffer(s, "input_ids")
            types = try buffer(s, "token_type_ids")
            pixels = nil; patches = nil; patchOut = nil
        } else {
            let grid = config.patchesPerSide * config.patchesPerSide
            ids = nil; types = nil
            pixels = try buffer(config.pixelCount, "pixel_values")
            patches = try buffer(grid * config.patchVectorSize, "patches")
            patchOut = try buffer(grid * h, "patch_embeddings")
        }
        bytes = [hidden, tmp, q, k, v, ctx, ffn, mask, pooled, ids, types, pixels, patches, patchOut]
            .compactMap { $0?.size }.reduce(0, +)
    }
}
