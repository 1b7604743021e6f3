import Foundation
import Transformer
import VulkanCompute

/// A context's side of silent-data-corruption work: reading its checksums after a run, scrubbing
/// its weights against the source, and — fault injection — corrupting them where the kernels
/// read them.
extension GPUModelContext {
    /// What a scrub of every weight held found.
    public struct ScrubReport: Sendable {
        /// One per tensor whose rows differ from the source's.
        public let findings: [CorruptionFinding]
        /// Bytes of device memory read, and tensors digested.
        public let bytes: Int
        public let tensors: Int
        public let seconds: Double
    }

    /// The checksum finding of the run of `components` just submitted, if any Linear's test failed.
    func checkFinding(_ components: [ModelComponent]) throws -> CorruptionFinding? {
        GEMMCheck.finding(try checkResults(components))
    }

    /// Each checked Linear of `components` (in model order): its worst ratio to the bound in the
    /// last run, and how many of its column groups failed.
    func checkResults(_ components: [ModelComponent]) throws -> [(name: String, component: ModelComponent, ratio: Double, failed: Int, groups: Int)] {
        guard let checks else { return [] }
        let held = lock.withLock { weights }
        var sums = [Float](repeating: 0, count: checks.size / 4)
        try sums.withUnsafeMutableBytes { try checks.read(into: $0) }
        var results: [(name: String, component: ModelComponent, ratio: Double, failed: Int, groups: Int)] = []
        sums.withUnsafeBufferPointer { buffer in
            for component in components {
                guard let w = held[component] else { continue }
                for name in component.parameterNames(config) {
                    guard let checksum = w.checksums[name], let base = checkLayout.base[name], let shape = checkLayout.shape[name] else { continue }
                    let inputBase = checkLayout.inputOf[name].flatMap { checkLayout.base[$0] } ?? base
                    let (ratio, failed) = GEMMCheck.test(buffer, base: base, inputBase: inputBase, m: shape.m, checksum: checksum,
                                                         family: kernels.family, lanes: kernels.lanes)
                    results.append((name, component, ratio, failed, checksum.groups))
                }
            }
        }
        return results
    }

    /// Puts back the words of transient corruptions in `components` (their one wrong run is over).
    func putBackTransient(after components: [ModelComponent]) {
        let due = lock.withLock { () -> [(component: ModelComponent, buffer: DeviceBuffer, offset: Int, words: [UInt32])] in
            let due = transient.filter { components.contains($0.component) }
            transient.removeAll { components.contains($0.component) }
            return due
        }
        for t in due { try? t.words.withUnsafeBytes { try t.buffer.write($0, offset: t.offset, via: channel) } }
    }

    /// Digests every row of every weight held here, on the device, and compares each with the
    /// source's digest kept at upload. Corruption in weights no request has read yet shows here.
    public func scrub() throws -> ScrubReport {
        guard let kernels = kernels.scrub else {
            throw VulkanError.invalidUse("\(channel.label): scrubbing is off (its kernels and digests were not made)")
        }
        runLock.lock()
        defer { runLock.unlock() }
        let start = ContinuousClock.now
        let held = lock.withLock { weights }
        var findings: [CorruptionFinding] = []
        var bytes = 0, tensors = 0
        for (component, w) in held.sorted(by: { $0.key.id < $1.key.id }) {
            let names = component.parameterNames(config).filter { w.digests[$0] != nil && w.layouts[$0] != nil }
            var bases: [String: Int] = [:]
            var total = 0
            for name in names { bases[name] = total; total += w.layouts[name]!.slots }
            guard total > 0 else { continue }
            let digests = try DeviceBuffer(device: device, size: 8 * total, label: "\(component.id).digests", location: .host)
            try [UInt32](repeating: 0, count: 2 * total).withUnsafeBytes { try digests.write($0) }
            var steps: [BatchStep] = []
            for name in names {
                let layout = w.layouts[name]!, buffer = try w[name]
                let x = min(layout.slots, 65_535), y = (layout.slots + x - 1) / x
                steps.append(.dispatch(Dispatch(layout.pitch % 4 == 0 ? kernels.texels : kernels.words, buffers: [buffer, digests],
                                                push: [UInt32(layout.pitch), UInt32(layout.slots), UInt32(bases[name]!)],
                                                groups: (UInt32(x), UInt32(y), 1), label: "\(name).scrub")))
                bytes += layout.slots * layout.pitch * 4
                tensors += 1
            }
            try channel.run(steps, label: "\(component.id) scrub")
            let words = try digests.readUInt32(2 * total)
            for name in names {
                let layout = w.layouts[name]!, expected = w.digests[name]!, base = bases[name]!
                var rows: [Int] = [], empty = 0
                for slot in 0..<layout.slots {
                    let found = UInt64(words[2 * (base + slot)]) | UInt64(words[2 * (base + slot) + 1]) << 32
                    guard found != expected[slot] else { continue }
                    if let row = layout.row(inSlot: slot) { rows.append(row) } else { empty += 1 }
                }
                guard !rows.isEmpty || empty > 0 else { continue }
                rows.sort()
                let shown = rows.prefix(8).map(String.init).joined(separator: ", ") + (rows.count > 8 ? ", …" : "")
                var detail = rows.isEmpty ? "" : "\(rows.count) of \(layout.rows) rows differ from the source (row\(rows.count == 1 ? "" : "s") \(shown))"
                if empty > 0 { detail += (detail.isEmpty ? "" : "; ") + "\(empty) padding row slot\(empty == 1 ? "" : "s") not zero" }
                findings.append(CorruptionFinding(detector: .scrub, component: component.id, tensor: name, detail: detail))
            }
        }
        return ScrubReport(findings: findings, bytes: bytes, tensors: tensors, seconds: (ContinuousClock.now - start).seconds)
    }

    /// Corrupts the weights of `component` where its kernels read them: an aligned block of one
    /// tensor, read from device memory, XOR-ed with the spec's bits, written back. The host copy
    /// and the source are never touched. A transient corruption is put back after the next run
    /// that reads the component.
    public func corrupt(_ component: ModelComponent, _ spec: CorruptionSpec) throws -> CorruptionRecord {
        runLock.lock()
        defer { runLock.unlock() }
        guard var w = lock.withLock({ weights[component] }) else {
            throw GPUModelError.componentMissing("\(component.id) is not loaded on \(channel.label): nothing to corrupt")
        }
        // Imported weights are the image every context shares, read-only: this device's own
        // memory goes wrong, so it gets a private copy first, as a device holds its own.
        if w.importedBytes > 0 {
            w = try ComponentWeights(component, from: w.source, kernels: kernels, channel: channel, integrity: kernels.integrity)
            install(w)
        }
        var random = Xoshiro256StarStar(seed: spec.seed)
        let tensors = component.parameterNames(config).compactMap { name in w.layouts[name].map { (name: name, count: $0.rows * $0.cols) } }
        guard let name = spec.chooseTensor(tensors, &random), let layout = w.layouts[name] else {
            throw VulkanError.invalidUse("\(component.id) has no tensor \(spec.tensor ?? "") to corrupt (it has \(tensors.map(\.name).joined(separator: ", ")))")
        }
        let buffer = try w[name]
        let block = spec.chooseBlock(rows: layout.rows, cols: layout.cols, &random)
        let offset = layout.byteOffset(row: block.row, column: block.column)
        var old = [UInt32](repeating: 0, count: block.count)
        try old.withUnsafeMutableBytes { try buffer.read(into: $0, offset: offset, via: channel) }
        let (new, bits) = spec.flip(old, &random)
        try new.withUnsafeBytes { try buffer.write($0, offset: offset, via: channel) }
        if spec.persistence == .transient {
            lock.withLock { transient.append((component, buffer, offset, old)) }
        }
        var largest = 0.0, relative = 0.0
        for (a, b) in zip(old, new) {
            let before = Double(Float(bitPattern: a)), after = Double(Float(bitPattern: b))
            largest = max(largest, abs(after - before))
            if before != 0 { relative = max(relative, abs(after - before) / abs(before)) }
        }
        let mechanism = buffer.isMapped
            ? "read-modify-write of the buffer's mapped device memory (vkMapMemory) in pid \(getpid())"
            : "read back and written through a staging buffer copied on the context's queue (vkCmdCopyBuffer) in pid \(getpid())"
        return CorruptionRecord(component: component.id, tensor: name, row: block.row, column: block.column, elements: block.count,
                                flips: bits.reduce(0) { $0 + $1.count }, bitPositions: Array(Set(bits.joined())).sorted(),
                                deviceOffset: offset, mechanism: mechanism, magnitude: spec.magnitude, persistence: spec.persistence,
                                largestChange: largest, largestRelativeChange: relative)
    }
}

extension DeviceBuffer {
    /// Reads `count` 32-bit words from offset 0 (mapped buffers, or through a staging copy).
    func readUInt32(_ count: Int, via channel: Channel? = nil) throws -> [UInt32] {
        var out = [UInt32](repeating: 0, count: count)
        try out.withUnsafeMutableBytes { try read(into: $0, via: channel) }
        return out
    }
}

extension GPUModelContext {
    /// The worst ratio to its rounding bound of each Linear of `components` checked in the last
    /// run (weight name → ratio; 1 is the bound): how much room the bound left.
    public func checksumRatios(of components: [ModelComponent]) throws -> [String: Double] {
        Dictionary(try checkResults(components).map { ($0.name, $0.ratio) }, uniquingKeysWith: { a, _ in a })
    }
}
