// SharedWeights: the model's host weights, once, in memory every browser process maps.
//
// Why: with browsers as processes, each would otherwise hold its own copy of the host weights
// (440 MB for bert-base). The pool writes them once into an anonymous shared file (a memfd) in
// the safetensors layout, its own CPU reference reads them from there, and each browser process
// maps the same pages (handed over as a descriptor): one copy however many browsers.
// The same pages are the oracle every answer is checked against, so no browser may change
// them: a corrupted or hostile browser writing there would corrupt the reference too, and the
// check would compare wrong with wrong. The file is sealed against every write before any
// browser starts, and browsers get a read-only descriptor of it.

import CProcess
import Foundation

/// The weights in a memfd, safetensors layout (canonical names, F32, the data section aligned
/// to a page so every tensor is 4-byte aligned in any mapping).
public final class SharedWeightFile: @unchecked Sendable {  // immutable after init
    /// The sealed memfd; browser processes get its read-only descriptor.
    public let file: SealedMemoryFile
    public var descriptor: Int32 { file.descriptor }
    public var readOnlyDescriptor: Int32 { file.readOnlyDescriptor }
    public var byteCount: Int { file.byteCount }
    /// The same weights as the store it was made from, read from the shared mapping.
    public private(set) var store: WeightStore!

    /// Copies `store` into a new memfd. The returned object's `store` reads from the memfd, so
    /// the caller may drop the original (its allocations are freed then).
    public init(copying original: WeightStore) throws {
        let config = original.config
        var header = "{"
        var offset = 0
        for (i, spec) in config.parameters.enumerated() {
            let bytes = spec.count * MemoryLayout<Float>.size
            header += (i == 0 ? "" : ",") + "\"\(spec.name)\":{\"dtype\":\"F32\",\"shape\":[\(spec.shape.map(String.init).joined(separator: ","))],"
                + "\"data_offsets\":[\(offset),\(offset + bytes)]}"
            offset += bytes
        }
        header += "}"
        // Pad the header with spaces (the format allows it) so the data starts on a page.
        let page = 4096
        let unpadded = 8 + header.utf8.count
        header += String(repeating: " ", count: (page - unpadded % page) % page)
        let dataStart = 8 + header.utf8.count
        file = try SealedMemoryFile(name: "poolfault-weights", byteCount: dataStart + offset, what: "the shared weights") { base in
            var length = UInt64(header.utf8.count).littleEndian
            withUnsafeBytes(of: &length) { base.copyMemory(from: $0.baseAddress!, byteCount: 8) }
            header.utf8CString.withUnsafeBytes { base.advanced(by: 8).copyMemory(from: $0.baseAddress!, byteCount: header.utf8.count) }
            var at = dataStart
            for spec in config.parameters {
                try original.tensor(spec.name).withUnsafeBufferPointer { floats in
                    if let source = floats.baseAddress { base.advanced(by: at).copyMemory(from: source, byteCount: floats.count * 4) }
                }
                at += spec.count * 4
            }
        }
        store = try WeightStore.mapShared(path: Self.path(descriptor: file.descriptor), config: config, source: original.source)
    }

    /// Whether the file refuses writes (its seals include F_SEAL_WRITE).
    public var isSealedAgainstWrites: Bool { file.isSealedAgainstWrites }

    /// A path that opens the memfd `descriptor` of this process (Linux's /proc/self/fd).
    public static func path(descriptor: Int32) -> String { SealedMemoryFile.path(descriptor: descriptor) }
}

extension WeightStore {
    /// Maps a safetensors file whose tensors carry `config`'s canonical names as F32 (what
    /// `SharedWeightFile` writes), without copying. Shapes are checked; values are not (the
    /// writer's store was checked when it was made).
    public static func mapShared(path: String, config: ModelConfig, source: Source) throws -> WeightStore {
        let file = try MappedFile(path: path, what: "the shared weights")
        let header = try SafetensorsFile(bytes: file.bytes, path: path)
        let entries = Dictionary(header.entries.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var tensors: [String: WeightTensor] = [:]
        for spec in config.parameters {
            guard let entry = entries[spec.name] else { throw ModelDataError.missingTensor(path: path, name: spec.name) }
            guard entry.dtype == .f32 else {
                throw ModelDataError.unsupportedDtype(path: path, name: entry.name, dtype: entry.dtypeName)
            }
            guard entry.shape == spec.shape else {
                throw ModelDataError.shapeMismatch(path: path, name: entry.name, expected: spec.shape, found: entry.shape)
            }
            tensors[spec.name] = WeightTensor(name: spec.name, shape: spec.shape, storage: try floats(of: entry, dtype: .f32, in: file))
        }
        return WeightStore(config: config, source: source, tensors: tensors)
    }
}

extension WeightStore {
    /// Drops this process's page mappings of `component`'s mapped tensors (the file keeps the
    /// data; a later read maps it again, a minor fault per page). Why: a browser process holds
    /// its shards' weights on the device once uploaded, and every page it keeps mapped is work
    /// for the kernel when the process is killed, before its sockets close — the pool's crash
    /// detection waits on that.
    public func releaseMappedPages(of component: ModelComponent) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        for name in component.parameterNames(config) {
            guard let tensor = self.tensors[name], tensor.isMapped else { continue }
            tensor.withUnsafeBufferPointer { floats in
                guard let base = floats.baseAddress else { return }
                let start = (Int(bitPattern: base) + page - 1) / page * page
                let end = (Int(bitPattern: base) + floats.count * 4) / page * page
                if end > start, let address = UnsafeMutableRawPointer(bitPattern: start) {
                    madvise(address, end - start, MADV_DONTNEED)
                }
            }
        }
    }
}
