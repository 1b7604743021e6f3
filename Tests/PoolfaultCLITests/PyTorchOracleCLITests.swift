// `poolfault bench forward --vs-pytorch` end to end. With PyTorch (ci/install-pytorch's venv):
// PyTorch's forward of the weights and input poolfault exported agrees with poolfault's CPU
// reference, BERT and ViT, over seeds — an oracle that shares no code with ours — and the ratios
// are printed. Without torch: the bench still succeeds and says how to get it. The child
// process is gone when the bench ends.

import Foundation
import Testing

@Suite(.serialized) struct PyTorchOracleCLITests {
    /// The venv ci/install-pytorch makes (ci/install-deps runs it).
    static let python = (ProcessInfo.processInfo.environment["POOLFAULT_TOOLS"] ?? "/opt/poolfault-tools") + "/torch-venv/bin/python"

    @Test(arguments: [("bert-base-uncased", 1 as UInt64), ("bert-base-uncased", 7), ("vit-base-patch16-224", 3)])
    func pytorchAgreesWithTheReference(model: String, seed: UInt64) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python) else {
            Issue.record("no PyTorch venv at \(Self.python): run ci/install-pytorch (ci/install-deps does)")
            return
        }
        let size = model.hasPrefix("vit") ? ["--layers", "2"] : ["--layers", "3", "--seq-len", "16"]
        let r = try CLIRunner.run(["bench", "forward", "--model", model, "--seed", "\(seed)", "--runs", "1", "--json",
                                   "--vs-pytorch", "--python", Self.python] + size,
                                  environment: ["OMP_WAIT_POLICY": nil])
        #expect(r.status == 0, "\(r.stderr)")
        let out = try BenchCLITests.json(r)
        let rows = out["forward"] as? [[String: Any]] ?? []
        #expect(rows.map { $0["backend"] as? String ?? "" } == ["webgpu", "webnn", "pytorch"], "\(r.stdout)")
        let pytorch = try #require(rows.last)
        // The numerics note's fp32 tolerance for a whole forward against an independent fp32 one.
        let error = pytorch["max_abs_error"] as? Double ?? 1
        #expect(error < 1e-4, "PyTorch differs from the CPU reference by \(error)")
        #expect((pytorch["device"] as? String ?? "").contains("torch 2."))
        // PyTorch runs as the user would run it: not with the OpenMP wait policy poolfault set
        // for its own workers (its webnn row says it did).
        #expect(!(pytorch["device"] as? String ?? "").contains("OMP_WAIT_POLICY"), "\(pytorch)")
        #expect((rows[1]["device"] as? String ?? "").contains("OpenMP workers wait passive"), "\(rows[1])")
        let ratios = out["vs_pytorch"] as? [String: Any] ?? [:]
        #expect((ratios["webnn_ratio"] as? Double ?? 0) > 0 && (ratios["webgpu_ratio"] as? Double ?? 0) > 0, "\(ratios)")
        #expect(out["pytorch_skipped"] == nil)
        #expect(Self.pytorchChildren().isEmpty, "PyTorch children left running: \(Self.pytorchChildren())")
    }

    /// Pids whose command line names a bench's scratch directory (the Python child's script):
    /// looked up, never killed by name.
    static func pytorchChildren() -> [String] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.filter { Int($0) != nil } ?? []
        return pids.filter { pid in
            guard let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: cmdline, as: UTF8.self).contains("poolfault-vs-pytorch-")
        }
    }

    @Test func withoutTorchTheBenchSaysHowToGetIt() throws {
        // A Python that certainly lacks torch: -I ignores site-packages and PYTHONPATH.
        let python = try #require(["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) })
        let dir = RunCLITests.tempDir("no-torch")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let wrapper = dir + "/python"
        try "#!/bin/sh\nexec \(python) -I -S \"$@\"\n".write(toFile: wrapper, atomically: true, encoding: .utf8)
        chmod(wrapper, 0o755)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try CLIRunner.run(["bench", "forward", "--layers", "1", "--seq-len", "8", "--runs", "1", "--vs-pytorch", "--python", wrapper])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("pytorch  not measured") && r.stdout.contains("No module named 'torch'"), "\(r.stdout)")
        #expect(r.stdout.contains("pip install torch --index-url https://download.pytorch.org/whl/cpu"), "\(r.stdout)")
        let missing = try CLIRunner.run(["bench", "forward", "--layers", "1", "--seq-len", "8", "--runs", "1", "--vs-pytorch",
                                         "--python", "/nonexistent/python3"])
        #expect(missing.status == 0 && missing.stdout.contains("pytorch  not measured"), "\(missing.stdout)\(missing.stderr)")
    }

    /// A child that answers "ready" and then dies (as a crashed Python would) is an error naming
    /// it, not a hang and not SIGPIPE killing poolfault.
    @Test func aPyTorchChildThatDiesIsAnError() throws {
        let dir = RunCLITests.tempDir("dying-torch")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fake = dir + "/python"
        let ready = #"{"torch": "fake", "transformers": "fake", "threads": 1, "attention": "none", "maxAbsVsReference": 0}"#
        // The import probe (-c) succeeds; run as the child, it says ready and exits.
        try "#!/bin/sh\n[ \"$1\" = -c ] && exit 0\necho '\(ready)'\nexit 0\n".write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let r = try CLIRunner.run(["bench", "forward", "--layers", "1", "--seq-len", "8", "--runs", "2", "--vs-pytorch", "--python", fake])
        #expect(r.status == 2, "\(r.status) \(r.stdout) \(r.stderr)")
        #expect(r.stderr.contains("PyTorch's forward process"), "\(r.stderr)")
        #expect(Self.pytorchChildren().isEmpty)
    }
}
