import Foundation
import Testing
import Transformer

/// `poolfault infer` end to end: real weights files written here, bad input refused with the
/// right exit code and a one-line message, never a trap.
@Suite(.serialized) struct InferCLITests {
    /// A tiny BERT (2 layers unless told, hidden 64) as a Hugging Face directory: config.json + model.safetensors.
    static func writeTinyBERT(prefix: String = "", layers: Int = 2,
                              mutate: (inout [String: (shape: [Int], values: [Float])]) -> Void = { _ in }) throws -> URL {
        let dir = Scratch.root.appendingPathComponent("poolfault-infer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let config = """
            {"model_type": "bert", "_name_or_path": "tiny-bert", "hidden_size": 64, "num_hidden_layers": \(layers), "num_attention_heads": 1,
             "intermediate_size": 128, "vocab_size": 500, "max_position_embeddings": 32, "type_vocab_size": 2,
             "layer_norm_eps": 1e-12, "hidden_act": "gelu"}
            """
        try Data(config.utf8).write(to: dir.appendingPathComponent("config.json"))
        let modelConfig = try ModelConfig(huggingFaceConfigAt: dir.appendingPathComponent("config.json")).reduced(layers: nil, seqLen: 16)
        let store = try WeightStore.seeded(config: modelConfig, seed: 3)
        var tensors: [String: (shape: [Int], values: [Float])] = [:]
        for spec in modelConfig.parameters { tensors[spec.name] = (spec.shape, try store.tensor(spec.name).toArray()) }
        mutate(&tensors)
        var writer = SafetensorsWriter()
        for (name, t) in tensors.sorted(by: { $0.key < $1.key }) { try writer.add(prefix + name, shape: t.shape, values: t.values) }
        try writer.serialized().write(to: dir.appendingPathComponent("model.safetensors"))
        return dir
    }

    static func temp(_ name: String) -> String {
        Scratch.root.appendingPathComponent("poolfault-\(UUID().uuidString)-\(name)").path
    }

    @Test func webgpuMatchesTheReferenceAndWritesNpy() throws {
        let dir = try Self.writeTinyBERT(prefix: "bert.")
        let out = Self.temp("out.npy"), pooled = Self.temp("pooled.npy")
        let r = try CLIRunner.run(["infer", "--weights", dir.path, "--seq-len", "16", "--output", out, "--pooler-output", pooled, "--validate"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("within max abs 1e-4"))
        #expect(r.stdout.contains("llvmpipe"))
        let npy = try Data(contentsOf: URL(fileURLWithPath: out))
        #expect(npy.prefix(6) == Data([0x93] + Array("NUMPY".utf8)))
        #expect(String(decoding: npy.prefix(128), as: UTF8.self).contains("'shape': (1, 16, 64)"))
        #expect(npy.count % 4 == 0 && npy.count >= 16 * 64 * 4 + 64)
        #expect(FileManager.default.fileExists(atPath: pooled))
        #expect(!r.stderr.contains("validation:"))
    }

    /// lavapipe's SIMD width sets the subgroup size the texel GEMM and attention are shaped to
    /// (`GPUKernels.lanes`): both widths must give the reference's numbers.
    @Test(arguments: ["256", "512"]) func bothLavapipeVectorWidthsMatchTheReference(width: String) throws {
        let r = try CLIRunner.run(["infer", "--model", "bert-base-uncased", "--layers", "1", "--seq-len", "24",
                                   "--output", Self.temp("w\(width).npy"), "--validate"],
                                  environment: ["LP_NATIVE_VECTOR_WIDTH": width])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("\(width) bits"), "\(r.stdout)")
        #expect(r.stdout.contains("within max abs 1e-4"), "\(r.stdout)")
        #expect(!r.stderr.contains("validation:"))
    }

    @Test func webnnIsTheReferenceItself() throws {
        let r = try CLIRunner.run(["infer", "--model", "bert-base-uncased", "--layers", "1", "--seq-len", "8",
                                   "--backend", "webnn", "--output", Self.temp("webnn.npy")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("max abs 0.0"))
    }

    @Test func aMissingTensorIsADataError() throws {
        let dir = try Self.writeTinyBERT { $0["encoder.layer.1.output.dense.bias"] = nil }
        let r = try CLIRunner.run(["infer", "--weights", dir.path, "--output", Self.temp("x.npy")])
        #expect(r.status == 65)
        #expect(r.stderr.contains("encoder.layer.1.output.dense.bias"))
        #expect(r.stderr.split(separator: "\n").count == 1, "one line: \(r.stderr)")
    }

    @Test func aWrongShapeIsADataError() throws {
        let dir = try Self.writeTinyBERT { $0["pooler.dense.weight"] = ([64, 32], [Float](repeating: 0, count: 64 * 32)) }
        let r = try CLIRunner.run(["infer", "--weights", dir.path, "--output", Self.temp("x.npy")])
        #expect(r.status == 65)
        #expect(r.stderr.contains("pooler.dense.weight"))
    }

    @Test func aTruncatedSafetensorsIsADataError() throws {
        let dir = try Self.writeTinyBERT()
        let file = dir.appendingPathComponent("model.safetensors")
        try Data(try Data(contentsOf: file).prefix(20)).write(to: file)
        let r = try CLIRunner.run(["infer", "--weights", dir.path, "--output", Self.temp("x.npy")])
        #expect(r.status == 65, "\(r.stderr)")
    }

    @Test func aMissingConfigIsADataErrorAndAMissingDirectoryToo() throws {
        let dir = try Self.writeTinyBERT()
        try FileManager.default.removeItem(at: dir.appendingPathComponent("config.json"))
        let r = try CLIRunner.run(["infer", "--weights", dir.path, "--output", Self.temp("x.npy")])
        #expect(r.status == 65, "\(r.stderr)")
        #expect(r.stderr.contains("config.json"))
    }

    @Test func anOutOfVocabularyTokenIsADataError() throws {
        let input = Self.temp("input.json")
        try Data(#"{"input_ids": [[101, 999999, 102]], "attention_mask": [[1, 1, 1]]}"#.utf8).write(to: URL(fileURLWithPath: input))
        let r = try CLIRunner.run(["infer", "--layers", "1", "--seq-len", "3", "--input", input, "--output", Self.temp("x.npy")])
        #expect(r.status == 65, "\(r.stderr)")
        #expect(r.stderr.contains("999999"))
    }

    // Test that a missing --input is bad input data (65), as a missing --weights is.
    @Test func aMissingInputIsADataError() throws {
        let r = try CLIRunner.run(["infer", "--layers", "1", "--input", "/nonexistent/input.json", "--output", Self.temp("x.npy")])
        #expect(r.status == 65, "\(r.stderr)")
        #expect(r.stderr.contains("/nonexistent/input.json not found"), "\(r.stderr)")
    }

    @Test func anUnwritableOutputIsExit2() throws {
        let r = try CLIRunner.run(["infer", "--layers", "1", "--seq-len", "8", "--backend", "webnn", "--output", "/etc/hostname/out.npy"])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("/etc/hostname/out.npy"))
        #expect(r.stdout.isEmpty, "refused before any work: \(r.stdout)")
    }

    @Test func anUnknownModelIsAUsageErrorListingTheModels() throws {
        let r = try CLIRunner.run(["infer", "--model", "gpt-17", "--output", Self.temp("x.npy")])
        #expect(r.status == 64)
        #expect(r.stderr.contains("bert-base-uncased") && r.stderr.contains("vit-base-patch16-224"))
    }
}
