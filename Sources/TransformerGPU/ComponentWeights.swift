import Foundation
import Transformer
import VulkanCompute

/// The weights of one model component on one device: a buffer per Hugging Face tensor,
/// uploaded once (mapped and written in place where memory is unified). Dropping it is the real
/// teardown of a component failure; reloading uploads exactly `bytes` again. With integrity
/// checks on, it also holds what the checks compare with, computed from the source (never from
/// the device): each Linear's checksum data, and the digest of every row.
final class ComponentWeights: @unchecked Sendable {  // immutable after init
    let component: ModelComponent
    /// Where the weights came from (a private copy of imported weights is made from it).
    let source: WeightStore
    let buffers: [String: DeviceBuffer]
    /// The GEMM weights' row pitch in floats (`GEMMFamily.weightPitch`), by tensor name.
    let gemmPitches: [String: Int]
    /// How each tensor lies in its buffer.
    let layouts: [String: TensorLayout]
    /// Checksummed Linears: each one's checksums from the source, by weight name (host memory:
    /// the test runs on the host, GEMMCheck).
    let checksums: [String: LinearChecksum]
    /// Scrubbing: the source's digest of each row slot of each tensor, in slot order.
    let digests: [String: [UInt64]]
    /// Bytes of the tensors uploaded (a padded row pitch adds device memory, not data).
    let bytes: Int
    /// Of `bytes`, those imported from a `WeightImage` rather than copied.
    let importedBytes: Int
    let uploadSeconds: Double
    /// Of `uploadSeconds`, the time spent computing checksums and digests from the source.
    let integritySeconds: Double

    /// `image`: where the device can import host memory and the image has these kernels'
    /// layout, its tensors become the buffers as they are (no copy); otherwise each is uploaded.
    init(_ component: ModelComponent, from store: WeightStore, kernels: GPUKernels, channel: Channel,
         integrity: IntegrityChecks = .none, image: WeightImage? = nil) throws {
        self.component = component
        source = store
        let start = ContinuousClock.now
        var integrityTime = Duration.zero
        var buffers: [String: DeviceBuffer] = [:]
        var pitches: [String: Int] = [:]
        var layouts: [String: TensorLayout] = [:]
        var checksums: [String: LinearChecksum] = [:]
        var digests: [String: [UInt64]] = [:]
        var bytes = 0, imported = 0
        let tensors = try store.tensors(of: component)
        let image = image.flatMap { kernels.canImport($0) ? $0 : nil }
        for tensor in tensors {
            var buffer: DeviceBuffer! = nil
            if let pages = image?.pages(of: tensor.name) {
                buffer = try DeviceBuffer(device: kernels.device, importing: pages, label: tensor.name)
                imported += tensor.byteCount
            }
            let layout = Self.tensorLayout(tensor.name, shape: tensor.shape, family: kernels.family, lanes: kernels.lanes)
            if Self.isGEMMWeight(tensor.name, shape: tensor.shape) {
                let rows = tensor.shape[0], k = tensor.shape.dropFirst().reduce(1, *)
                if buffer == nil {
                    buffer = try tensor.withUnsafeBufferPointer { try kernels.weightBuffer($0, rows: rows, k: k, label: tensor.name, via: channel) }
                }
                pitches[tensor.name] = layout.pitch
                if integrity.checksums, kernels.check != nil, GEMMCheck.supports(n: rows, k: k) {
                    let began = ContinuousClock.now
                    checksums[tensor.name] = image?.checksum(of: tensor.name) ?? Self.checksum(of: tensor, in: store)
                    integrityTime += ContinuousClock.now - began
                }
            } else if buffer == nil {
                buffer = try DeviceBuffer(device: kernels.device, size: tensor.byteCount, label: tensor.name)
                try tensor.withUnsafeBufferPointer { try buffer.write(UnsafeRawBufferPointer($0), via: channel) }
            }
            if integrity.scrubbing {
                let began = ContinuousClock.now
                digests[tensor.name] = image?.digests(of: tensor.name) ?? tensor.withUnsafeBufferPointer { layout.slotDigests(of: $0) }
                integrityTime += ContinuousClock.now - began
            }
            buffers[tensor.name] = buffer
            layouts[tensor.name] = layout
            bytes += tensor.byteCount
        }
        self.buffers = buffers
        gemmPitches = pitches
        self.layouts = layouts
        self.checksums = checksums
        self.digests = digests
        self.bytes = bytes
        importedBytes = imported
        uploadSeconds = (ContinuousClock.now - start).seconds
        integritySeconds = integrityTime.seconds
    }

    /// How a tensor lies in its buffer for kernels of `family` at `lanes`: a GEMM weight's rows
    /// padded to the family's pitch, in its row order, over whole row blocks; any other tensor
    /// as rows of its last dimension, in place.
    static func tensorLayout(_ name: String, shape: [Int], family: GEMMFamily, lanes: Int) -> TensorLayout {
        guard isGEMMWeight(name, shape: shape) else {
            let cols = max(shape.last ?? 1, 1), rows = shape.reduce(1, *) / cols
            return TensorLayout(rows: rows, cols: cols, pitch: cols, slots: rows, rowOrder: nil)
        }
        let rows = shape[0], k = shape.dropFirst().reduce(1, *)
        return TensorLayout(rows: rows, cols: k, pitch: family.weightPitch(k: k), slots: family.weightRows(columns: rows, lanes: lanes),
                            rowOrder: family.weightRowOrder(columns: rows, lanes: lanes))
    }

    /// A GEMM weight's checksums (with its bias's sums when the store has the bias), from the source.
    static func checksum(of tensor: WeightTensor, in store: WeightStore) -> LinearChecksum {
        let rows = tensor.shape[0], k = tensor.shape.dropFirst().reduce(1, *)
        let bias = try? store.tensor(String(tensor.name.dropLast(".weight".count)) + ".bias")
        return tensor.withUnsafeBufferPointer { w in
            bias.map { b in b.withUnsafeBufferPointer { WeightIntegrity.linearChecksum(weight: w, bias: $0, n: rows, k: k,
                                                                                        groupColumns: GEMMCheck.groupColumns) } }
                ?? WeightIntegrity.linearChecksum(weight: w, bias: nil, n: rows, k: k, groupColumns: GEMMCheck.groupColumns)
        }
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

/// How a tensor lies in its device buffer: logical rows of `cols` floats, each in a row slot
/// `pitch` floats long (GEMM weights: padded, and in the texel kernel's fetch order).
struct TensorLayout: Sendable {
    let rows: Int
    let cols: Int
    let pitch: Int
    /// Row slots the buffer holds (a GEMM weight's whole workgroup blocks; the slots no row lands in are zero).
    let slots: Int
    /// Logical row → slot; nil: in place.
    let rowOrder: [Int]?

    func slot(of row: Int) -> Int { rowOrder?[row] ?? row }

    /// The tensor's bytes on the device: every row slot at the pitch.
    var deviceBytes: Int { slots * pitch * 4 }

    /// Byte offset of element `column` of logical row `row`.
    func byteOffset(row: Int, column: Int) -> Int { (slot(of: row) * pitch + column) * 4 }

    /// The logical row in `slot`, nil for an empty slot.
    func row(inSlot slot: Int) -> Int? {
        guard rowOrder != nil else { return slot < rows ? slot : nil }
        return inverseOrder[slot]
    }

    private var inverseOrder: [Int?] {
        var inverse = [Int?](repeating: nil, count: slots)
        for (row, slot) in (rowOrder ?? []).enumerated() where slot < slots { inverse[slot] = row }
        return inverse
    }

    /// The source's digest of every slot, as scrub.comp computes it on the device: a row's
    /// digest at its pitch, or a zero row's for an empty slot.
    func slotDigests(of source: UnsafeBufferPointer<Float>) -> [UInt64] {
        let byRow = WeightIntegrity.rowDigests(source, cols: cols, pitch: pitch)
        guard slots != rows || rowOrder != nil else { return byRow }
        var out = [UInt64](repeating: WeightIntegrity.zeroRowDigest(pitch: pitch), count: slots)
        for (row, digest) in byRow.enumerated() where slot(of: row) < slots { out[slot(of: row)] = digest }
        return out
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
