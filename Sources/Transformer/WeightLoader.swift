// Loading a Hugging Face model directory (config.json + model.safetensors) into a WeightStore.
//
// Accepted layouts (see docs/numerics.md): bare-model names; the hub's
// `bert.` / `vit.` prefixes; TF-era `LayerNorm.gamma` / `.beta`; extra heads (`cls.*`,
// `classifier.*`) and non-float buffers (`embeddings.position_ids`, I64) are ignored. Every
// tensor the config needs is checked for presence, dtype and shape before anything is used.

import Foundation

extension WeightStore {
    /// Loads `directory/config.json` and `directory/model.safetensors`. F32 tensors are read
    /// in place from the mapping when 4-byte aligned (copied otherwise); F16, BF16 and F64
    /// are converted. `hasPooler` follows the file: true when it has `pooler.dense`.
    public static func load(directory: URL) throws -> WeightStore {
        var config = try ModelConfig(huggingFaceConfigAt: directory.appendingPathComponent("config.json"))
        let weightsPath = directory.appendingPathComponent("model.safetensors").path
        let file = try MappedFile(path: weightsPath, what: "the model directory needs model.safetensors (PyTorch .bin files are not supported)")
        let header = try SafetensorsFile(bytes: file.bytes, path: weightsPath)

        // Canonical name -> header entry; two raw names for one tensor is ambiguous.
        var entries: [String: SafetensorsFile.Entry] = [:]
        for entry in header.entries {
            let name = canonicalName(entry.name, kind: config.kind)
            if let previous = entries[name] {
                throw ModelDataError.malformedSafetensors(
                    path: weightsPath, reason: "tensors \"\(previous.name)\" and \"\(entry.name)\" both map to \"\(name)\"")
            }
            entries[name] = entry
        }
        config.hasPooler = entries["pooler.dense.weight"] != nil || entries["pooler.dense.bias"] != nil

        var tensors: [String: WeightTensor] = [:]
        for spec in config.parameters {
            guard let entry = entries[spec.name] else {
                throw ModelDataError.missingTensor(path: weightsPath, name: spec.name)
            }
            guard let dtype = entry.dtype, dtype.isConvertibleToF32 else {
                throw ModelDataError.unsupportedDtype(path: weightsPath, name: entry.name, dtype: entry.dtypeName)
            }
            guard entry.shape == spec.shape else {
                throw ModelDataError.shapeMismatch(path: weightsPath, name: entry.name, expected: spec.shape, found: entry.shape)
            }
            let storage = try floats(of: entry, dtype: dtype, in: file)
            let tensor = WeightTensor(name: spec.name, shape: spec.shape, storage: storage)
            if let (index, value) = tensor.firstValueOutOfRange() {
                throw ModelDataError.badWeightValue(path: weightsPath, name: entry.name, index: index, value: value)
            }
            tensors[spec.name] = tensor
        }
        return WeightStore(config: config, source: .file(path: weightsPath), tensors: tensors)
    }

    /// Strips the hub's model prefix and renames TF-era LayerNorm gamma/beta.
    static func canonicalName(_ raw: String, kind: ModelConfig.Kind) -> String {
        var name = Substring(raw)
        let prefix = kind == .bert ? "bert." : "vit."
        if name.hasPrefix(prefix) { name = name.dropFirst(prefix.count) }
        if name.hasSuffix("LayerNorm.gamma") { return name.dropLast("gamma".count) + "weight" }
        if name.hasSuffix("LayerNorm.beta") { return name.dropLast("beta".count) + "bias" }
        return String(name)
    }

    /// The entry's floats: borrowed from the mapping when possible, converted otherwise.
    static func floats(of entry: SafetensorsFile.Entry, dtype: SafetensorsFile.DType,
                               in file: MappedFile) throws -> TensorStorage {
        let count = entry.elementCount
        guard let base = file.bytes.baseAddress else {
            // Only an empty file has no base address, and the header parser rejects those.
            throw ModelDataError.malformedSafetensors(path: file.path, reason: "empty file")
        }
        let source = base + entry.byteRange.lowerBound
        switch dtype {
        case .f32:
            if Int(bitPattern: source) % MemoryLayout<Float>.alignment == 0 {
                return TensorStorage(borrowing: source.assumingMemoryBound(to: Float.self), count: count, owner: file)
            }
            // Unaligned data offset: copy rather than read misaligned floats.
            return TensorStorage.make(count: count) { target in
                if let destination = target.baseAddress {
                    UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
                }
            }
        case .f16:
            return TensorStorage.make(count: count) { target in
                for i in 0..<count {
                    target[i] = HalfPrecision.float(fromF16: UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                }
            }
        case .bf16:
            return TensorStorage.make(count: count) { target in
                for i in 0..<count {
                    target[i] = HalfPrecision.float(fromBF16: UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                }
            }
        case .f64:
            return TensorStorage.make(count: count) { target in
                for i in 0..<count {
                    let bits = UInt64(littleEndian: source.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
                    target[i] = Float(Double(bitPattern: bits))
                }
            }
        default:
            throw ModelDataError.unsupportedDtype(path: file.path, name: entry.name, dtype: entry.dtypeName)
        }
    }
}
