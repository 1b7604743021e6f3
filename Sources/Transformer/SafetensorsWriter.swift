// SafetensorsWriter: writes safetensors files (F32, F16 or BF16 floats, plus raw tensors of
// any dtype for tests), and exports a WeightStore as a Hugging Face model directory.

import Foundation

public struct SafetensorsWriter: Sendable {
    /// How floats are stored.
    public enum FloatEncoding: String, Sendable, CaseIterable {
        case f32 = "F32"
        case f16 = "F16"
        case bf16 = "BF16"
    }

    private struct Pending: Sendable {
        var name: String
        var dtype: String
        var shape: [Int]
        var bytes: [UInt8]
    }

    private var pending: [Pending] = []
    private var names: Set<String> = []
    public var metadata: [String: String]

    public init(metadata: [String: String] = ["format": "pt"]) {
        self.metadata = metadata
    }

    /// Adds a float tensor; `values.count` must equal the shape's product.
    public mutating func add(_ name: String, shape: [Int], values: [Float], encoding: FloatEncoding = .f32) throws {
        try values.withUnsafeBufferPointer { try add(name, shape: shape, values: $0, encoding: encoding) }
    }

    public mutating func add(_ name: String, shape: [Int], values: UnsafeBufferPointer<Float>,
                             encoding: FloatEncoding = .f32) throws {
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == values.count else {
            throw ModelDataError.invalidInput(source: "safetensors writer",
                                              reason: "tensor \"\(name)\" has \(values.count) values for shape \(shape)")
        }
        var bytes: [UInt8] = []
        switch encoding {
        case .f32:
            // Host order is little-endian (see Transformer.swift), so the floats' bytes are the file's.
            bytes = Array(UnsafeRawBufferPointer(values))
        case .f16:
            bytes.reserveCapacity(values.count * 2)
            for value in values { appendLittleEndian(HalfPrecision.f16Bits(from: value), to: &bytes) }
        case .bf16:
            bytes.reserveCapacity(values.count * 2)
            for value in values { appendLittleEndian(HalfPrecision.bf16Bits(from: value), to: &bytes) }
        }
        try addRaw(name, dtype: encoding.rawValue, shape: shape, bytes: bytes)
    }

    /// Adds an I64 tensor (e.g. the `embeddings.position_ids` buffer some files carry).
    public mutating func add(_ name: String, shape: [Int], int64 values: [Int64]) throws {
        var bytes: [UInt8] = []
        for value in values { appendLittleEndian(UInt64(bitPattern: value), to: &bytes) }
        try addRaw(name, dtype: "I64", shape: shape, bytes: bytes)
    }

    /// Adds a tensor's bytes as they are; the dtype string is written unchecked (tests use
    /// this for dtypes the loader must reject). Names must be unique.
    public mutating func addRaw(_ name: String, dtype: String, shape: [Int], bytes: [UInt8]) throws {
        guard !names.contains(name), name != "__metadata__" else {
            throw ModelDataError.invalidInput(source: "safetensors writer", reason: "duplicate tensor name \"\(name)\"")
        }
        names.insert(name)
        pending.append(Pending(name: name, dtype: dtype, shape: shape, bytes: bytes))
    }

    /// The header JSON (tensors in insertion order) padded with spaces to a multiple of 8, so
    /// the data section starts 8-byte aligned, as the reference writer does.
    public func headerBytes() -> [UInt8] {
        var parts: [String] = []
        if !metadata.isEmpty {
            let fields = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            parts.append("\"__metadata__\":{\(fields.joined(separator: ","))}")
        }
        var offset = 0
        for tensor in pending {
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            parts.append("\(jsonString(tensor.name)):{\"dtype\":\(jsonString(tensor.dtype)),\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + tensor.bytes.count)]}")
            offset += tensor.bytes.count
        }
        var header = Array("{\(parts.joined(separator: ","))}".utf8)
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        return header
    }

    /// The whole file in memory.
    public func serialized() -> Data {
        let header = headerBytes()
        var data = Data()
        var length = UInt64(header.count).littleEndian
        withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
        data.append(contentsOf: header)
        for tensor in pending { data.append(contentsOf: tensor.bytes) }
        return data
    }

    /// Writes the file to `url`, replacing what is there.
    public func write(to url: URL) throws {
        do {
            try serialized().write(to: url)
        } catch {
            throw ModelDataError.unwritable(path: url.path, reason: FileAccess.reason(of: error))
        }
    }

    /// Writes `store` as a Hugging Face model directory (`config.json` + `model.safetensors`,
    /// bare-model names). `rename` maps each canonical name to the name written (tests use it
    /// to produce the hub's prefixed layouts). The directory is created if needed.
    public static func export(_ store: WeightStore, to directory: URL, encoding: FloatEncoding = .f32,
                              rename: (String) -> String = { $0 }) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ModelDataError.unwritable(path: directory.path, reason: FileAccess.reason(of: error))
        }
        var writer = SafetensorsWriter()
        for spec in store.config.parameters {
            let tensor = try store.tensor(spec.name)
            try tensor.withUnsafeBufferPointer { try writer.add(rename(spec.name), shape: spec.shape, values: $0, encoding: encoding) }
        }
        let configURL = directory.appendingPathComponent("config.json")
        do {
            try store.config.huggingFaceConfigJSON().write(to: configURL)
        } catch {
            throw ModelDataError.unwritable(path: configURL.path, reason: FileAccess.reason(of: error))
        }
        try writer.write(to: directory.appendingPathComponent("model.safetensors"))
    }
}

private func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
    var little = value.littleEndian
    withUnsafeBytes(of: &little) { bytes.append(contentsOf: $0) }
}

/// A JSON string literal for `text`, escaped by Foundation (a JSON fragment).
private func jsonString(_ text: String) -> String {
    let data = try? JSONSerialization.data(withJSONObject: text, options: [.fragmentsAllowed, .withoutEscapingSlashes])
    return data.map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
}
