// Loading model directories: round trips in every accepted layout, and each bad file with
// the message it must produce.

import Foundation
import Testing
import Transformer

@Suite struct SafetensorsLoadingTests {
    private func bits(_ tensor: WeightTensor) -> [UInt32] { tensor.toArray().map(\.bitPattern) }

    @Test(arguments: [true, false])
    func bareF32RoundTrip(bert: Bool) throws {
        let config = try bert ? Tiny.bert() : Tiny.vit()
        let seeded = try WeightStore.seeded(config: config, seed: 101)
        let directory = try TemporaryDirectory()
        try SafetensorsWriter.export(seeded, to: directory.url)

        let loaded = try WeightStore.load(directory: directory.url)
        #expect(loaded.config.name == config.name && loaded.config.hasPooler)
        #expect(loaded.source == .file(path: directory.url.appendingPathComponent("model.safetensors").path))
        for name in seeded.names {
            let tensor = try loaded.tensor(name)
            #expect(tensor.isMapped, "\(name) should be read in place")
            #expect(bits(tensor) == bits(try seeded.tensor(name)), "\(name)")
        }
        // Loaded BERT runs at min(128, max positions) = 16; reduce to the seeded 8 to compare.
        let store = bert ? try loaded.reduced(layers: nil, seqLen: config.seqLen) : loaded
        let input = ModelInput.seeded(config: config, seed: 1)
        #expect(try CPUReference(weights: store).forward(input) == CPUReference(weights: seeded).forward(input))
    }

    /// The hub's bert-base-uncased layout: `bert.` prefix, LayerNorm gamma/beta, `cls.*`
    /// heads, an I64 position_ids buffer; here also F16 and BF16 tensors.
    @Test func hubBertLayoutWithHalfPrecision() throws {
        let config = try Tiny.bert()
        let seeded = try WeightStore.seeded(config: config, seed: 102)
        var writer = SafetensorsWriter()
        var expected: [String: [Float]] = [:]
        for (index, spec) in config.parameters.enumerated() {
            var name = "bert." + spec.name
            if name.hasSuffix("LayerNorm.weight") { name = String(name.dropLast(6)) + "gamma" }
            if name.hasSuffix("LayerNorm.bias") { name = String(name.dropLast(4)) + "beta" }
            let values = try seeded.tensor(spec.name).toArray()
            let encoding = [SafetensorsWriter.FloatEncoding.f32, .f16, .bf16][index % 3]
            try writer.add(name, shape: spec.shape, values: values, encoding: encoding)
            switch encoding {
            case .f32: expected[spec.name] = values
            case .f16: expected[spec.name] = values.map { HalfPrecision.float(fromF16: HalfPrecision.f16Bits(from: $0)) }
            case .bf16: expected[spec.name] = values.map { HalfPrecision.float(fromBF16: HalfPrecision.bf16Bits(from: $0)) }
            }
        }
        try writer.add("bert.embeddings.position_ids", shape: [1, 16], int64: (0..<16).map(Int64.init))
        try writer.add("cls.predictions.bias", shape: [120], values: [Float](repeating: 0.5, count: 120))
        try writer.add("cls.seq_relationship.weight", shape: [2, 32], values: [Float](repeating: 1, count: 64), encoding: .f16)
        let directory = try TemporaryDirectory()
        try config.huggingFaceConfigJSON().write(to: directory.url.appendingPathComponent("config.json"))
        try writer.write(to: directory.url.appendingPathComponent("model.safetensors"))

        let loaded = try WeightStore.load(directory: directory.url).reduced(layers: nil, seqLen: config.seqLen)
        #expect(loaded.config == config)
        for spec in config.parameters {
            #expect(try loaded.tensor(spec.name).toArray() == expected[spec.name], "\(spec.name)")
        }
        #expect(modelDataError { _ = try loaded.tensor("cls.predictions.bias") } != nil)  // ignored head
        let input = ModelInput.seeded(config: config, seed: 2)
        let reference = try CPUReference(weights: WeightStore.fromArrays(config: config, expected))
        #expect(try CPUReference(weights: loaded).forward(input) == reference.forward(input))
    }

    /// google/vit-base-patch16-224's layout: `vit.` prefix, no pooler, a classifier head.
    @Test func hubViTLayoutWithoutPooler() throws {
        let config = try Tiny.vit(hasPooler: false)
        let seeded = try WeightStore.seeded(config: config, seed: 103)
        let directory = try TemporaryDirectory()
        try SafetensorsWriter.export(seeded, to: directory.url, rename: { "vit." + $0 })
        // Add the classifier by rewriting the file with two extra tensors.
        var writer = SafetensorsWriter()
        for spec in config.parameters {
            try writer.add("vit." + spec.name, shape: spec.shape, values: try seeded.tensor(spec.name).toArray())
        }
        try writer.add("classifier.weight", shape: [10, 32], values: [Float](repeating: 0.1, count: 320))
        try writer.add("classifier.bias", shape: [10], values: [Float](repeating: 0, count: 10))
        try writer.write(to: directory.url.appendingPathComponent("model.safetensors"))

        let loaded = try WeightStore.load(directory: directory.url)
        #expect(!loaded.config.hasPooler)
        #expect(loaded.config.components.last == .pooler)  // final layernorm
        let input = ModelInput.seeded(config: config, seed: 3)
        let output = try CPUReference(weights: loaded).forward(input)
        #expect(output.pooledOutput == nil)
        #expect(output == (try CPUReference(weights: seeded).forward(input)))
    }

    /// A 3-byte U8 tensor first pushes every F32 offset off 4-byte alignment: those are copied.
    @Test func unalignedF32IsCopied() throws {
        let config = try Tiny.vit()
        let seeded = try WeightStore.seeded(config: config, seed: 104)
        var writer = SafetensorsWriter()
        try writer.addRaw("aaa.odd", dtype: "U8", shape: [3], bytes: [1, 2, 3])
        for spec in config.parameters {
            try writer.add(spec.name, shape: spec.shape, values: try seeded.tensor(spec.name).toArray())
        }
        let directory = try TemporaryDirectory()
        try config.huggingFaceConfigJSON().write(to: directory.url.appendingPathComponent("config.json"))
        try writer.write(to: directory.url.appendingPathComponent("model.safetensors"))
        let loaded = try WeightStore.load(directory: directory.url)
        for spec in config.parameters {
            let tensor = try loaded.tensor(spec.name)
            #expect(!tensor.isMapped)
            #expect(bits(tensor) == bits(try seeded.tensor(spec.name)))
        }
    }

    // MARK: - Bad files

    /// Writes config.json for `config` and a safetensors file from `build`, then loads.
    private func load(_ config: ModelConfig, _ build: (inout SafetensorsWriter, WeightStore) throws -> Void) throws -> ModelDataError? {
        let seeded = try WeightStore.seeded(config: config, seed: 105)
        var writer = SafetensorsWriter()
        try build(&writer, seeded)
        let directory = try TemporaryDirectory()
        try config.huggingFaceConfigJSON().write(to: directory.url.appendingPathComponent("config.json"))
        try writer.write(to: directory.url.appendingPathComponent("model.safetensors"))
        return modelDataError { _ = try WeightStore.load(directory: directory.url) }
    }

    private func loadRaw(_ bytes: Data) throws -> ModelDataError? {
        let directory = try TemporaryDirectory()
        try Tiny.bert().huggingFaceConfigJSON().write(to: directory.url.appendingPathComponent("config.json"))
        try bytes.write(to: directory.url.appendingPathComponent("model.safetensors"))
        return modelDataError { _ = try WeightStore.load(directory: directory.url) }
    }

    /// A file with a hand-written header.
    private func rawFile(header: String, data: [UInt8]) -> Data {
        var file = Data()
        var length = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &length) { file.append(contentsOf: $0) }
        file.append(contentsOf: Array(header.utf8))
        file.append(contentsOf: data)
        return file
    }

    @Test func missingTensorIsNamed() throws {
        let missing = "encoder.layer.1.output.dense.bias"
        let error = try load(try Tiny.bert()) { writer, store in
            for spec in store.config.parameters where spec.name != missing {
                try writer.add(spec.name, shape: spec.shape, values: try store.tensor(spec.name).toArray())
            }
        }
        #expect(error == .missingTensor(path: error.map(path) ?? "", name: missing))
        #expect(error?.description.contains("\"\(missing)\" is missing") == true)
    }

    @Test func wrongShapeSaysExpectedAndFound() throws {
        let error = try load(try Tiny.bert()) { writer, store in
            for spec in store.config.parameters {
                // The intermediate weight transposed: [H, I] instead of [I, H].
                let shape = spec.name == "encoder.layer.0.intermediate.dense.weight" ? [32, 64] : spec.shape
                try writer.add(spec.name, shape: shape, values: try store.tensor(spec.name).toArray())
            }
        }
        #expect(error?.description.contains("\"encoder.layer.0.intermediate.dense.weight\" has shape [32, 64], expected [64, 32]") == true,
                "\(String(describing: error))")
    }

    @Test func unsupportedDtypeNamesTensorAndDtype() throws {
        let error = try load(try Tiny.vit()) { writer, store in
            for spec in store.config.parameters {
                if spec.name == "layernorm.bias" {
                    try writer.addRaw(spec.name, dtype: "I32", shape: spec.shape, bytes: [UInt8](repeating: 0, count: spec.count * 4))
                } else {
                    try writer.add(spec.name, shape: spec.shape, values: try store.tensor(spec.name).toArray())
                }
            }
        }
        #expect(error?.description.contains("\"layernorm.bias\" has dtype I32") == true, "\(String(describing: error))")
    }

    @Test func ambiguousNamesAreRejected() throws {
        let error = try load(try Tiny.bert()) { writer, store in
            for spec in store.config.parameters {
                try writer.add(spec.name, shape: spec.shape, values: try store.tensor(spec.name).toArray())
            }
            try writer.add("bert.pooler.dense.bias", shape: [32], values: [Float](repeating: 0, count: 32))
        }
        #expect(error?.description.contains("both map to \"pooler.dense.bias\"") == true, "\(String(describing: error))")
    }

    @Test func truncatedHeader() throws {
        let short = try loadRaw(Data([1, 2, 3, 4, 5]))
        #expect(short?.description.contains("shorter than the 8-byte header length") == true)
        let empty = try loadRaw(Data())
        #expect(empty?.description.contains("0 bytes") == true)
        let past = try loadRaw(rawFile(header: "{}", data: []).prefix(9))  // says 2 header bytes, has 1
        #expect(past?.description.contains("runs past the end") == true, "\(String(describing: past))")
        var valid = SafetensorsWriter()
        try valid.add("x", shape: [2], values: [1, 2])
        let cut = valid.serialized().prefix(20)
        #expect(try loadRaw(Data(cut))?.description.contains("runs past the end") == true)
    }

    @Test func malformedJSON() throws {
        let error = try loadRaw(rawFile(header: "{\"a\": [1, 2", data: []))
        #expect(error?.description.contains("header is not valid JSON") == true, "\(String(describing: error))")
        let notObject = try loadRaw(rawFile(header: "[1, 2, 3]", data: []))
        #expect(notObject?.description.contains("JSON object") == true)
        let badEntry = try loadRaw(rawFile(header: #"{"x": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}"#, data: [0, 0, 0, 0]))
        #expect(badEntry?.description.contains("bad shape") == true, "\(String(describing: badEntry))")
    }

    @Test func offsetsOutOfRangeOrInconsistent() throws {
        let outside = try loadRaw(rawFile(header: #"{"x": {"dtype": "F32", "shape": [250], "data_offsets": [0, 1000]}}"#, data: [0, 0, 0, 0]))
        #expect(outside?.description.contains("\"x\" data_offsets [0, 1000] out of range") == true, "\(String(describing: outside))")
        let reversed = try loadRaw(rawFile(header: #"{"x": {"dtype": "F32", "shape": [0], "data_offsets": [4, 0]}}"#, data: [0, 0, 0, 0]))
        #expect(reversed?.description.contains("out of range") == true)
        let size = try loadRaw(rawFile(header: #"{"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}"#, data: [UInt8](repeating: 0, count: 8)))
        #expect(size?.description.contains("spans 8 bytes but F32 [4] needs 16") == true, "\(String(describing: size))")
        let overlap = try loadRaw(rawFile(header: #"{"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "y": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}"#,
                                          data: [UInt8](repeating: 0, count: 12)))
        #expect(overlap?.description.contains("overlaps") == true, "\(String(describing: overlap))")
    }

    @Test func missingFilesInTheDirectory() throws {
        let directory = try TemporaryDirectory()
        let noConfig = modelDataError { _ = try WeightStore.load(directory: directory.url) }
        #expect(noConfig?.description.contains("config.json not found") == true, "\(String(describing: noConfig))")
        #expect(noConfig?.isIOFailure == false)
        try Tiny.bert().huggingFaceConfigJSON().write(to: directory.url.appendingPathComponent("config.json"))
        let noWeights = modelDataError { _ = try WeightStore.load(directory: directory.url) }
        #expect(noWeights?.description.contains("model.safetensors not found") == true, "\(String(describing: noWeights))")
        // A folder in place of the weights: the OS will not read it (exit 2, not 65).
        _ = try directory.subdirectory("model.safetensors")
        #expect(modelDataError { _ = try WeightStore.load(directory: directory.url) }?.isUnreadable == true)
    }

    /// A FIFO where a file should be must be refused, not block the loader forever.
    @Test func specialFilesAreUnreadableNotHangs() throws {
        #if canImport(Glibc)
        let directory = try TemporaryDirectory()
        let configPath = directory.url.appendingPathComponent("config.json").path
        #expect(mkfifo(configPath, 0o600) == 0)
        #expect(modelDataError { _ = try WeightStore.load(directory: directory.url) }?.isUnreadable == true)
        try FileManager.default.removeItem(atPath: configPath)
        try Tiny.bert().huggingFaceConfigJSON().write(to: directory.url.appendingPathComponent("config.json"))
        #expect(mkfifo(directory.url.appendingPathComponent("model.safetensors").path, 0o600) == 0)
        let error = modelDataError { _ = try WeightStore.load(directory: directory.url) }
        #expect(error?.isUnreadable == true, "\(String(describing: error))")
        #endif
    }

    /// Sizes whose products would overflow are refused as bad config data.
    @Test func absurdConfigSizesAreRejected() throws {
        let json = #"""
            {"model_type": "vit", "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "intermediate_size": 3072, "image_size": 16777216, "patch_size": 1, "num_channels": 3}
            """#
        let error = modelDataError { _ = try ModelConfig(huggingFaceConfigJSON: Data(json.utf8)) }
        #expect(error?.description.contains("implausibly large") == true, "\(String(describing: error))")
    }

    @Test func restrictingAStore() throws {
        let config = try Tiny.bert()
        let store = try WeightStore.seeded(config: config, seed: 106).reduced(layers: 1, seqLen: 4)
        #expect(store.config.numLayers == 1 && store.config.seqLen == 4)
        #expect(store.names.count == config.parameters.count - 16)
        // Asking a 1-layer store for 2 layers names the first missing tensor.
        let error = modelDataError { _ = try store.restricted(to: config) }
        #expect(error?.description.contains("encoder.layer.1.attention.self.query.weight") == true)
        #expect(modelUsageError { _ = try store.reduced(layers: 2, seqLen: nil) } != nil)
    }

    private func path(_ error: ModelDataError) -> String {
        if case let .missingTensor(path, _) = error { return path }
        return ""
    }
}
