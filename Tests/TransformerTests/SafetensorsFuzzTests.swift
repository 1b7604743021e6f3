// Fuzzing the safetensors header parser: thousands of seeded mutations of a valid file
// must each parse (with sane entries) or throw ModelDataError — never crash or hang.

import Foundation
import Testing
import Transformer

@Suite struct SafetensorsFuzzTests {
    /// A small valid file: several dtypes, metadata, an empty tensor.
    private func baseFile() throws -> Data {
        var writer = SafetensorsWriter(metadata: ["format": "pt", "note": "fuzz"])
        try writer.add("embeddings.word_embeddings.weight", shape: [4, 8], values: (0..<32).map(Float.init))
        try writer.add("encoder.layer.0.attention.self.query.bias", shape: [8], values: [Float](repeating: 1, count: 8), encoding: .f16)
        try writer.add("pooler.dense.bias", shape: [8], values: [Float](repeating: 2, count: 8), encoding: .bf16)
        try writer.add("embeddings.position_ids", shape: [1, 4], int64: [0, 1, 2, 3])
        try writer.add("empty", shape: [0, 3], values: [])
        try writer.addRaw("scalar", dtype: "F64", shape: [], bytes: [UInt8](repeating: 0, count: 8))
        return writer.serialized()
    }

    private enum Outcome { case parsed, rejected, wrongError(Error) }

    private func attempt(_ bytes: Data) -> Outcome {
        do {
            let file = try SafetensorsFile(data: bytes, path: "fuzz.safetensors")
            // Whatever parses must describe bytes that exist and fit their dtype.
            for entry in file.entries {
                #expect(entry.byteRange.lowerBound >= file.dataStart && entry.byteRange.upperBound <= bytes.count)
                if let dtype = entry.dtype {
                    #expect(entry.byteRange.count == entry.elementCount * dtype.elementSize)
                }
            }
            return .parsed
        } catch is ModelDataError {
            return .rejected
        } catch {
            return .wrongError(error)
        }
    }

    @Test func mutatedHeadersParseOrThrow() throws {
        let base = try baseFile()
        #expect(try SafetensorsFile(data: base).entries.count == 6)
        let headerEnd = 8 + Int(base.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var generator = Xoshiro256StarStar(seed: 2024)
        let interesting = Array("{}[],:\"-0123456789eE. \\".utf8) + [0, 0xFF, 0x80]
        var parsed = 0, rejected = 0
        for iteration in 0..<4000 {
            var bytes = [UInt8](base)
            switch iteration % 6 {
            case 0:  // flip a few bits anywhere in the length field or header
                for _ in 0...generator.nextInt(below: 4) {
                    bytes[generator.nextInt(below: headerEnd)] ^= UInt8(1 << generator.nextInt(below: 8))
                }
            case 1:  // overwrite header bytes with JSON-significant characters
                for _ in 0...generator.nextInt(below: 3) {
                    bytes[8 + generator.nextInt(below: headerEnd - 8)] = interesting[generator.nextInt(below: interesting.count)]
                }
            case 2:  // truncate
                bytes = Array(bytes.prefix(generator.nextInt(below: bytes.count)))
            case 3:  // change the length field: small deltas, or a random 64-bit value
                var length = UInt64(headerEnd - 8)
                if generator.nextInt(below: 2) == 0 {
                    length = length &+ UInt64(bitPattern: Int64(generator.nextInt(below: 33) - 16))
                } else {
                    length = generator.next() >> UInt64(generator.nextInt(below: 64))
                }
                withUnsafeBytes(of: length.littleEndian) { for i in 0..<8 { bytes[i] = $0[i] } }
            case 4:  // insert or delete a header byte (shifts everything after it)
                let position = 8 + generator.nextInt(below: headerEnd - 8)
                if generator.nextInt(below: 2) == 0 {
                    bytes.insert(interesting[generator.nextInt(below: interesting.count)], at: position)
                } else {
                    bytes.remove(at: position)
                }
            default:  // change digits inside the header (offsets and shapes)
                let digits = (8..<headerEnd).filter { (48...57).contains(bytes[$0]) }
                for _ in 0...generator.nextInt(below: 3) {
                    bytes[digits[generator.nextInt(below: digits.count)]] = UInt8(48 + generator.nextInt(below: 10))
                }
            }
            switch attempt(Data(bytes)) {
            case .parsed: parsed += 1
            case .rejected: rejected += 1
            case let .wrongError(error): Issue.record("iteration \(iteration): unexpected error \(error)")
            }
        }
        // Both outcomes must actually occur, or the mutations are not exercising the parser.
        #expect(parsed > 100 && rejected > 1000, "parsed \(parsed), rejected \(rejected)")
    }

    /// Random bytes, including ones whose length field is plausible.
    @Test func randomBytesParseOrThrow() {
        var generator = Xoshiro256StarStar(seed: 7)
        for _ in 0..<1000 {
            let count = generator.nextInt(below: 64)
            var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            if count >= 8 {
                let length = UInt64(generator.nextInt(below: count - 7))
                withUnsafeBytes(of: length.littleEndian) { for i in 0..<8 { bytes[i] = $0[i] } }
                if count > 8 { bytes[8] = UInt8(ascii: "{") }
            }
            if case let .wrongError(error) = attempt(Data(bytes)) { Issue.record("unexpected error \(error)") }
        }
    }

    /// Mutated files through the whole loader (conversion included) also only throw.
    @Test func mutatedModelFilesLoadOrThrow() throws {
        let config = try Tiny.bert()
        let directory = try TemporaryDirectory()
        try SafetensorsWriter.export(try WeightStore.seeded(config: config, seed: 1), to: directory.url, encoding: .f16)
        let weights = directory.url.appendingPathComponent("model.safetensors")
        let base = [UInt8](try Data(contentsOf: weights))
        let headerEnd = 8 + Int(base.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var generator = Xoshiro256StarStar(seed: 99)
        var loaded = 0
        for _ in 0..<150 {
            var bytes = base
            let digits = (8..<headerEnd).filter { (48...57).contains(bytes[$0]) }
            bytes[digits[generator.nextInt(below: digits.count)]] = UInt8(48 + generator.nextInt(below: 10))
            try Data(bytes).write(to: weights)
            do {
                _ = try WeightStore.load(directory: directory.url)
                loaded += 1
            } catch is ModelDataError {
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        #expect(loaded > 0)
    }
}
