import Foundation
import Transformer
import VulkanCompute

/// A model's weights laid out as a device's kernels read them (GEMM weights padded and in the
/// texel kernel's row order, every other tensor as it is), each tensor on pages of its own, in
/// a sealed memory file. Made once by the pool for a kernel layout; every context of that
/// layout, in the pool's process or a browser's, imports its tensors as device memory
/// (`DeviceBuffer(importing:)`) where the driver can, instead of copying them: a respawned
/// browser's weight upload becomes a mapping. Separate from the reference's pages (the
/// oracle stays out of every browser's reach), and read-only to every browser: a context that
/// must change its weights (an injected corruption) takes a private copy first.
public final class WeightImage: @unchecked Sendable {  // immutable after init
    /// What decides the bytes: the GEMM family, its SIMD lanes and tile columns, and the page
    /// every tensor starts on.
    public struct Layout: Sendable, Codable, Equatable, CustomStringConvertible {
        public let family: GEMMFamily
        public let lanes: Int
        public let columns: Int
        public let alignment: Int
        public var description: String { "\(family.rawValue) GEMM, \(lanes) lanes, \(columns) columns, \(alignment)-byte pages" }

        /// How a tensor lies on a device of this layout (`ComponentWeights.tensorLayout`).
        func of(_ name: String, shape: [Int]) -> TensorLayout {
            ComponentWeights.tensorLayout(name, shape: shape, family: family, lanes: lanes)
        }
    }

    public struct Entry: Sendable {
        /// Where the tensor starts, from the file's start.
        public let offset: Int
        /// Its bytes in the kernels' layout, rounded up to the alignment.
        public let span: Int
        /// Where the source's digest of each of its row slots is (scrubbing), and how many.
        let digests: Int
        let slots: Int
        /// A checksummed Linear's sums, squares and bias sums (doubles), where it is one.
        let checksum: (offset: Int, n: Int, k: Int, groups: Int)?
    }

    public let layout: Layout
    public let entries: [String: Entry]
    public let byteCount: Int
    /// The pool's sealed file (nil in a browser process, which maps it by path).
    public let file: SealedMemoryFile?
    private let mapping: MappedFile

    /// The first page: what a reader checks before it trusts the rest.
    private static func header(_ layout: Layout, _ config: ModelConfig, bytes: Int) -> String {
        "poolfault weight image 2; \(layout); \(config.parameters.count) tensors; \(bytes) bytes\n"
    }

    /// Where each of `config`'s tensors lies in an image of `layout`, and the total size: the
    /// tensors, each on its own pages, then the integrity data the contexts would otherwise
    /// compute from the source at every upload (row digests; Linear checksums).
    static func plan(_ config: ModelConfig, _ layout: Layout) -> (entries: [String: Entry], bytes: Int) {
        func rounded(_ n: Int) -> Int { (n + layout.alignment - 1) / layout.alignment * layout.alignment }
        let placed = config.parameters.map { layout.of($0.name, shape: $0.shape) }
        var spans: [(offset: Int, span: Int)] = []
        var at = rounded(4096)
        for tensor in placed {
            spans.append((at, rounded(tensor.deviceBytes)))
            at += spans[spans.count - 1].span
        }
        var entries: [String: Entry] = [:]
        for (i, spec) in config.parameters.enumerated() {
            let tensor = spans[i], slots = placed[i].slots
            let digests = at
            at += slots * 8
            var checksum: (Int, Int, Int, Int)?
            if ComponentWeights.isGEMMWeight(spec.name, shape: spec.shape) {
                let n = spec.shape[0], k = spec.shape.dropFirst().reduce(1, *)
                if GEMMCheck.supports(n: n, k: k) {
                    let groups = (n + GEMMCheck.groupColumns - 1) / GEMMCheck.groupColumns
                    checksum = (at, n, k, groups)
                    at += (2 * groups * k + groups) * 8
                }
            }
            entries[spec.name] = Entry(offset: tensor.offset, span: tensor.span, digests: digests, slots: slots, checksum: checksum)
        }
        return (entries, rounded(at))
    }

    /// The pool's image of `store` in `layout`: written once, sealed.
    public init(store: WeightStore, layout: Layout) throws {
        let config = store.config
        let (entries, total) = Self.plan(config, layout)
        let header = Self.header(layout, config, bytes: total)
        let file = try SealedMemoryFile(name: "poolfault-weight-image", byteCount: total, what: "the weight image") { base in
            header.utf8CString.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: header.utf8.count) }
            for spec in config.parameters {
                guard let entry = entries[spec.name] else { continue }
                let tensor = try store.tensor(spec.name), placed = layout.of(spec.name, shape: spec.shape)
                // Rows at the kernels' pitch and in their order, as `writeRows` puts them on a device.
                tensor.withUnsafeBufferPointer { floats in
                    guard let source = floats.baseAddress else { return }
                    if placed.rowOrder == nil && placed.pitch == placed.cols {  // in place: one copy
                        return (base + entry.offset).copyMemory(from: source, byteCount: floats.count * 4)
                    }
                    DeviceBuffer.placeRows(UnsafeRawBufferPointer(floats), rowBytes: placed.cols * 4, pitchBytes: placed.pitch * 4,
                                           order: placed.rowOrder ?? Array(0..<placed.rows), zeroEmptySlots: placed.rowOrder != nil,
                                           into: base + entry.offset, size: placed.deviceBytes)
                }
                let digests = tensor.withUnsafeBufferPointer { placed.slotDigests(of: $0) }
                digests.withUnsafeBytes { if let d = $0.baseAddress { (base + entry.digests).copyMemory(from: d, byteCount: $0.count) } }
                if let at = entry.checksum?.offset {
                    let sums = ComponentWeights.checksum(of: tensor, in: store)
                    for (i, part) in [sums.sums, sums.squares, sums.biasSums].enumerated() {
                        let offset = at + i * sums.sums.count * 8
                        part.withUnsafeBytes { if let p = $0.baseAddress { (base + offset).copyMemory(from: p, byteCount: $0.count) } }
                    }
                }
            }
        }
        self.layout = layout
        self.entries = entries
        byteCount = total
        self.file = file
        mapping = try MappedFile(path: SealedMemoryFile.path(descriptor: file.descriptor), what: "the weight image")
    }

    /// A browser's view of the pool's image at `path`, checked to be `layout`'s image of `config`.
    public init(mapping path: String, config: ModelConfig, layout: Layout) throws {
        let (entries, total) = Self.plan(config, layout)
        let mapped = try MappedFile(path: path, what: "the weight image")
        let expected = Self.header(layout, config, bytes: total)
        let found = String(decoding: mapped.bytes.prefix(expected.utf8.count), as: UTF8.self)
        guard mapped.bytes.count == total, found == expected else {
            let line = found.split(separator: "\n").first.map(String.init) ?? "no header"
            throw ModelDataError.unreadable(path: path, reason: "not the weight image for \(layout) (\(mapped.bytes.count) bytes; \(line))")
        }
        self.layout = layout
        self.entries = entries
        byteCount = total
        file = nil
        mapping = mapped
    }

    /// The source's digest of each of a tensor's row slots (what `TensorLayout.slotDigests` computes).
    public func digests(of name: String) -> [UInt64]? {
        guard let e = entries[name], let base = mapping.bytes.baseAddress else { return nil }
        return Array(UnsafeBufferPointer(start: (base + e.digests).assumingMemoryBound(to: UInt64.self), count: e.slots))
    }

    /// A checksummed Linear's checksums (what `ComponentWeights.checksum(of:in:)` computes).
    public func checksum(of name: String) -> LinearChecksum? {
        guard let e = entries[name], let c = e.checksum, let base = mapping.bytes.baseAddress else { return nil }
        func doubles(_ index: Int, _ count: Int) -> [Double] {
            Array(UnsafeBufferPointer(start: (base + c.offset + index * c.groups * c.k * 8).assumingMemoryBound(to: Double.self), count: count))
        }
        return LinearChecksum(n: c.n, k: c.k, groupColumns: GEMMCheck.groupColumns, sums: doubles(0, c.groups * c.k),
                              squares: doubles(1, c.groups * c.k), biasSums: doubles(2, c.groups))
    }

    /// A tensor's pages, whole spans (what an import takes), or nil if the image has none by that name.
    public func pages(of name: String) -> UnsafeRawBufferPointer? {
        guard let e = entries[name], let base = mapping.bytes.baseAddress else { return nil }
        return UnsafeRawBufferPointer(start: base + e.offset, count: e.span)
    }
}
