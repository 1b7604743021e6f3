import Foundation
import Testing

/// `infer --input` takes what Hugging Face users hold: .npz (np.savez / savez_compressed of a
/// tokenizer's or image processor's output), .npy, .safetensors and JSON (nested, or flat with a
/// shape), any NumPy integer dtype for ids; every form gives the same output as JSON input, and
/// the sequence length comes from the input. The files are written by NumPy itself.
@Suite(.serialized) struct InputFormatsCLITests {
    /// Writes the same 12-token input in every form into `dir` (NumPy; `ci/install-deps` makes
    /// sure python3 imports it).
    static let writer = """
        import json, struct, sys, numpy as np
        d = sys.argv[1]
        rng = np.random.default_rng(5)
        ids = np.concatenate([[101], rng.integers(200, 499, 10), [102]]).astype(np.int64)[None, :]
        mask = np.ones_like(ids); mask[0, -2] = 0
        types = np.zeros_like(ids); types[0, 6:] = 1
        json.dump({"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "token_type_ids": types.tolist()}, open(d + "/nested.json", "w"))
        json.dump({"shape": [1, 12], "input_ids": ids.ravel().tolist(), "attention_mask": mask.ravel().tolist(),
                   "token_type_ids": types.ravel().tolist()}, open(d + "/flat.json", "w"))
        np.savez(d + "/tokens.npz", input_ids=ids, attention_mask=mask, token_type_ids=types)
        np.savez_compressed(d + "/compressed.npz", input_ids=ids.astype(np.int32), attention_mask=mask.astype(np.uint8),
                            token_type_ids=types.astype(np.int16))
        np.save(d + "/ids_only.npy", ids.astype(">i2"))
        json.dump({"input_ids": ids.tolist()}, open(d + "/ids_only.json", "w"))
        tensors = {"input_ids": ids, "attention_mask": mask.astype(np.int32), "token_type_ids": types}
        header, blob = {}, b""
        for name, a in tensors.items():
            raw = a.astype("<" + a.dtype.str[1:]).tobytes()
            header[name] = {"dtype": {"i8": "I64", "i4": "I32"}[a.dtype.str[1:]], "shape": list(a.shape), "data_offsets": [len(blob), len(blob) + len(raw)]}
            blob += raw
        h = json.dumps(header).encode()
        open(d + "/tokens.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + blob)
        np.save(d + "/float_ids.npy", ids.astype(np.float32))
        np.save(d + "/batch2.npy", np.concatenate([ids, ids]))
        np.savez(d + "/no_ids.npz", attention_mask=mask)
        np.save(d + "/complex.npy", ids.astype(np.complex64))
        raw = open(d + "/tokens.npz", "rb").read(); open(d + "/truncated.npz", "wb").write(raw[: len(raw) // 2])
        raw = open(d + "/ids_only.npy", "rb").read(); open(d + "/truncated.npy", "wb").write(raw[:-5])
        pixels = rng.uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32)
        np.save(d + "/pixels.npy", pixels)
        np.savez(d + "/pixels.npz", pixel_values=pixels)
        json.dump({"pixel_values": pixels.tolist()}, open(d + "/pixels.json", "w"))
        """

    static let files: String = {
        let dir = RunCLITests.tempDir("inputs")
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        _ = try? CLIRunner.run(shell: "python3 -c \"$WRITER\" '\(dir)'", environment: ["WRITER": writer])
        return dir
    }()

    static func infer(_ input: String, _ extra: [String] = []) throws -> (CLIRunner.Result, Data?) {
        let out = InferCLITests.temp("out.npy")
        let r = try CLIRunner.run(["infer", "--weights", tinyBERT.path, "--input", files + "/" + input, "--output", out] + extra)
        return (r, try? Data(contentsOf: URL(fileURLWithPath: out)))
    }

    static let tinyBERT: URL = (try? InferCLITests.writeTinyBERT()) ?? URL(fileURLWithPath: "/nonexistent")

    @Test func numpyWroteTheInputs() throws {
        #expect(FileManager.default.fileExists(atPath: Self.files + "/tokens.npz"), "python3 with numpy is needed (ci/install-deps)")
    }

    // Test that every form gives the same output as the nested JSON, with the sequence length from the input.
    @Test(arguments: ["flat.json", "tokens.npz", "compressed.npz", "tokens.safetensors"])
    func everyFormMatchesJSON(file: String) throws {
        let (reference, expected) = try Self.infer("nested.json")
        #expect(reference.status == 0, "\(reference.stderr)")
        #expect(reference.stdout.contains("sequence 12"), "the input's length: \(reference.stdout)")
        let (r, output) = try Self.infer(file)
        #expect(r.status == 0, "\(file): \(r.stderr)")
        #expect(output != nil && output == expected, "\(file) gives the same last_hidden_state as JSON")
    }

    @Test func aSingleNpyOfIdsMatchesJSONOfIds() throws {
        let (a, x) = try Self.infer("ids_only.json")
        let (b, y) = try Self.infer("ids_only.npy")
        #expect(a.status == 0 && b.status == 0, "\(a.stderr)\(b.stderr)")
        #expect(x != nil && x == y)
    }

    @Test(arguments: ["pixels.npy", "pixels.npz"])
    func pixelsInEveryFormMatchJSON(file: String) throws {
        let base = ["--model", "vit-base-patch16-224", "--layers", "1"]
        let out1 = InferCLITests.temp("p1.npy"), out2 = InferCLITests.temp("p2.npy")
        let a = try CLIRunner.run(["infer"] + base + ["--input", Self.files + "/pixels.json", "--output", out1])
        let b = try CLIRunner.run(["infer"] + base + ["--input", Self.files + "/" + file, "--output", out2])
        #expect(a.status == 0 && b.status == 0, "\(a.stderr)\(b.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out1)) == Data(contentsOf: URL(fileURLWithPath: out2)))
    }

    // Test that bad files are bad input (65) naming the file and the reason.
    @Test(arguments: [("truncated.npz", "truncated"), ("truncated.npy", "truncated"), ("float_ids.npy", "input_ids\" is missing"),
                      ("complex.npy", "not supported"), ("batch2.npy", "batch size 1"), ("no_ids.npz", "input_ids\" is missing")])
    func aBadInputFileIsADataError(file: String, reason: String) throws {
        let (r, output) = try Self.infer(file)
        #expect(r.status == 65, "\(file): \(r.stderr)")
        #expect(r.stderr.contains(file) && r.stderr.contains(reason), "\(file): \(r.stderr)")
        #expect(output == nil)
    }

    // Test that a 512-token input runs on bert-base without --seq-len.
    @Test func aFullLengthInputRunsWithoutSeqLen() throws {
        let input = InferCLITests.temp("long.json")
        let ids = ["101"] + (0..<510).map { String(1000 + $0) } + ["102"]
        try Data(#"{"input_ids": [[\#(ids.joined(separator: ","))]]}"#.utf8).write(to: URL(fileURLWithPath: input))
        let r = try CLIRunner.run(["infer", "--layers", "1", "--backend", "webnn", "--input", input, "--output", InferCLITests.temp("l.npy")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("sequence 512"), "\(r.stdout)")
    }
}
