import Foundation
import Testing

/// Input a user (or an attacker, or a broken pipeline) can hand poolfault: every hostile file is
/// refused as bad input (65) naming the file and what is wrong, before anything large is read,
/// allocated or inflated; names that could be paths and settings the CPU libraries would misread
/// are usage errors (64). Files are written by NumPy and zipfile, as users' tools write them.
@Suite(.serialized) struct HostileInputCLITests {
    static let writer = """
        import io, json, struct, sys, zipfile, numpy as np
        d = sys.argv[1]
        ids = np.array([[101, 205, 308, 102]], dtype=np.int64)
        # A zip bomb: 300 MiB of zeros, honestly declared, a few hundred KiB on disk.
        with zipfile.ZipFile(d + "/bomb.npz", "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("input_ids.npy", b"\\x93NUMPY" + bytes(300 << 20))
        # A liar: a member that declares 200 bytes and inflates to 2 MiB.
        buf = io.BytesIO(); np.save(buf, np.zeros((1, 1 << 18), dtype=np.int64)); member = buf.getvalue()
        with zipfile.ZipFile(d + "/liar.npz", "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("input_ids.npy", member)
        raw = bytearray(open(d + "/liar.npz", "rb").read())
        true = struct.pack("<I", len(member))
        i = raw.find(true)
        while i >= 0:
            raw[i:i + 4] = struct.pack("<I", 200); i = raw.find(true, i + 4)
        open(d + "/liar.npz", "wb").write(bytes(raw))
        # A header that declares 40 GB of values in a file of a few hundred bytes.
        header = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }"
        header += " " * (117 - len(header)) + "\\n"
        open(d + "/huge.npy", "wb").write(b"\\x93NUMPY\\x01\\x00" + struct.pack("<H", len(header)) + header.encode() + bytes(64))
        np.save(d + "/trailing.npy", ids); open(d + "/trailing.npy", "ab").write(b"more")
        np.savez(d + "/half_ids.npz", input_ids=ids.astype(np.float16))
        np.save(d + "/objects.npy", np.array([[101, "x", None]], dtype=object), allow_pickle=True)
        np.savez(d + "/with_text.npz", input_ids=ids, names=np.array(["a", "b"]))
        np.savez(d + "/no_tokens.npz", input_ids=np.zeros((1, 0), dtype=np.int64))
        open(d + "/empty.npy", "wb").close()
        px = np.zeros((1, 3, 224, 224), dtype=np.float32); px[0, 1, 2, 3] = 1e6
        np.save(d + "/loud_pixels.npy", px)
        json.dump({"input_ids": ids.tolist(), "model": "bert-base-uncased", "note": "from a tokenizer"}, open(d + "/with_metadata.json", "w"))
        """

    static let files: String = {
        let dir = RunCLITests.tempDir("hostile-inputs")
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let r = try? CLIRunner.run(shell: "python3 -c \"$WRITER\" '\(dir)'", environment: ["WRITER": writer])
        if r?.status != 0 { Issue.record("the input writer failed: \(r?.stderr ?? "")") }
        return dir
    }()

    static func infer(_ file: String, model: [String] = []) throws -> CLIRunner.Result {
        try CLIRunner.run(["infer"] + (model.isEmpty ? ["--weights", InputFormatsCLITests.tinyBERT.path] : model)
                          + ["--input", files + "/" + file, "--output", InferCLITests.temp("out.npy")])
    }

    // Test that each hostile file is bad input (65) naming the file and its fault, and that the
    // bomb is refused from its declared size without inflating (bounded memory: the refusal
    // does not need 300 MiB).
    @Test(arguments: [("bomb.npz", "over the 256 MiB"), ("liar.npz", "inflates past the 200 bytes it declares"),
                      ("huge.npy", "declares more than"), ("trailing.npy", "4 bytes follow the array"),
                      ("half_ids.npz", "stored as floating point"), ("objects.npy", "object arrays"),
                      ("no_tokens.npz", "holds no tokens"), ("empty.npy", "not a .npy file")])
    func aHostileInputIsADataError(file: String, reason: String) throws {
        let r = try Self.infer(file)
        #expect(r.status == 65, "\(file): \(r.stderr)")
        #expect(r.stderr.contains(file) && r.stderr.contains(reason), "\(file): \(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count <= 2, "one clear message: \(r.stderr)")
    }

    // Test that pixels far outside what an image processor gives are refused (65) with the
    // value and its place, on the ViT.
    @Test func pixelsBeyondTenThousandAreADataError() throws {
        let r = try Self.infer("loud_pixels.npy", model: ["--model", "vit-base-patch16-224", "--layers", "1"])
        #expect(r.status == 65, "\(r.stderr)")
        #expect(r.stderr.contains("1000000") && r.stderr.contains("within ±10000"), "\(r.stderr)")
    }

    // Test that what the model does not take (a text array in an .npz, metadata keys in JSON) is
    // skipped and said, and the input runs.
    @Test(arguments: [("with_text.npz", "names"), ("with_metadata.json", "model, note")])
    func whatTheModelDoesNotTakeIsSkippedAndSaid(file: String, skipped: String) throws {
        let r = try Self.infer(file)
        #expect(r.status == 0, "\(file): \(r.stderr)")
        #expect(r.stderr.contains("ignored \(skipped)"), "\(file): \(r.stderr)")
    }

    // Test that a browser name that could be a path, or is not one, is a usage error naming the
    // name, and that nothing is created outside the output directory.
    @Test(arguments: ["../escape", "chrome/../../x", ".hidden", "a b", String(repeating: "c", count: 33), "-chrome"])
    func aBrowserNameThatIsNotANameIsRefused(name: String) throws {
        let dir = RunCLITests.tempDir("names")
        let r = try CLIRunner.run(["--browsers", "chrome,\(name)", "--layers", "1", "--seq-len", "8", "--output-dir", dir])
        #expect(r.status == 64, "\(name): \(r.stderr)")
        #expect(r.stderr.contains("is not a browser name"), "\(name): \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/escape") && !FileManager.default.fileExists(atPath: "/x"))
    }

    // Test that a setting the CPU libraries would misread or ignore is a usage error naming it,
    // and that the forms they take pass.
    @Test(arguments: [("OMP_NUM_THREADS", "0"), ("OMP_NUM_THREADS", "many"), ("OMP_NUM_THREADS", "4,0"), ("OMP_WAIT_POLICY", "spin"),
                      ("OPENBLAS_THREAD_TIMEOUT", "99"), ("DNNL_MAX_CPU_ISA", "AVX3")])
    func aCPUSettingTheLibrariesWouldMisreadIsRefused(name: String, value: String) throws {
        let r = try CLIRunner.run(["infer", "--weights", InputFormatsCLITests.tinyBERT.path, "--output", InferCLITests.temp("out.npy")],
                                  environment: [name: value])
        #expect(r.status == 64, "\(name)=\(value): \(r.stderr)")
        #expect(r.stderr.contains("\(name)=\"\(value)\" is not a valid value"), "\(r.stderr)")
    }

    @Test func theFormsTheCPULibrariesTakePass() throws {
        let r = try CLIRunner.run(["infer", "--weights", InputFormatsCLITests.tinyBERT.path, "--output", InferCLITests.temp("out.npy")],
                                  environment: ["OMP_NUM_THREADS": "2,1", "OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4",
                                                "DNNL_MAX_CPU_ISA": "avx2"])
        #expect(r.status == 0, "\(r.stderr)")
    }
}
