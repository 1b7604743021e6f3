import Foundation
import Transformer

/// PyTorch's forward of the same model, weights and input, in a Python child process that
/// `bench forward --vs-pytorch` drives one forward at a time, so PyTorch's runs alternate with
/// poolfault's in the same minutes (a shared host's noise hits all alike). The child loads the
/// Hugging Face directory poolfault exported (`AutoModel`: BertModel or ViTModel), checks its
/// output against poolfault's CPU reference, then answers each "run" line with one timed forward.
final class PyTorchForward {
    /// What the child said once loaded.
    struct Ready: Decodable {
        let torch: String
        let transformers: String
        let threads: Int
        let attention: String
        /// OMP_WAIT_POLICY as the child saw it: the user's, never poolfault's own choice.
        let waitPolicy: String?
        /// Max |PyTorch − poolfault's CPU reference| over last_hidden_state.
        let maxAbsVsReference: Double
    }

    let ready: Ready
    private let process: Process
    private let toChild: FileHandle
    private var fromChild: LineReader
    private let logURL: URL

    /// How to get torch when `python` cannot import it: printed instead of failing the bench.
    static func installAdvice(python: String) -> String {
        """
        install a CPU-only PyTorch and transformers for it, e.g.
            python3 -m venv ~/torch-cpu && ~/torch-cpu/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu && ~/torch-cpu/bin/pip install transformers
        then rerun with --python ~/torch-cpu/bin/python (ci/install-pytorch does this under /opt/poolfault-tools)
        """
    }

    /// Nil, with why, when `python` cannot import torch and transformers.
    static func missingModules(python: String) -> String? {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = [python, "-c", "import torch, transformers"]
        let errors = Pipe()
        probe.standardOutput = FileHandle.nullDevice
        probe.standardError = errors
        do { try probe.run() } catch { return "cannot start \(python): \(error.localizedDescription)" }
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        probe.waitUntilExit()
        guard probe.terminationStatus != 0 else { return nil }
        let last = text.split(separator: "\n").last.map(String.init) ?? "exit status \(probe.terminationStatus)"
        return "\(python) cannot import torch and transformers (\(last))"
    }

    /// Exports `weights`, `input` and the reference output to `directory` and starts the child.
    init(python: String, weights: WeightStore, input: ModelInput, reference: ModelOutput, threads: Int, directory: URL) throws {
        let modelDir = directory.appendingPathComponent("model")
        try SafetensorsWriter.export(weights, to: modelDir)
        var inputs: [String: String] = [:]
        func npy(_ name: String, _ values: [Float], _ shape: [Int]) throws {
            let path = directory.appendingPathComponent("\(name).npy").path
            try NpyWriter.write(values, shape: shape, to: path)
            inputs[name] = path
        }
        switch input {
        case let .tokens(ids, mask, types):
            // Float32 holds every id of a 30,522-token vocabulary exactly; the child casts to int64.
            try npy("input_ids", ids.map(Float.init), [1, ids.count])
            try npy("attention_mask", mask.map(Float.init), [1, mask.count])
            try npy("token_type_ids", types.map(Float.init), [1, types.count])
        case let .pixels(values):
            let c = weights.config
            try npy("pixel_values", values, [1, c.numChannels, c.imageSize, c.imageSize])
        }
        let referencePath = directory.appendingPathComponent("reference.npy").path
        try NpyWriter.write(reference.lastHiddenState, shape: [1, reference.sequenceLength, reference.hiddenSize], to: referencePath)
        struct Spec: Encodable { let modelDir: String; let inputs: [String: String]; let reference: String; let threads: Int }
        let specURL = directory.appendingPathComponent("spec.json")
        let scriptURL = directory.appendingPathComponent("pytorch_forward.py")
        do {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            try encoder.encode(Spec(modelDir: modelDir.path, inputs: inputs, reference: referencePath, threads: threads)).write(to: specURL)
            try Data(Self.script.utf8).write(to: scriptURL)
        } catch {
            throw ToolError.unwritable(path: directory.path, reason: FileAccess.reason(of: error))
        }

        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, scriptURL.path, specURL.path]
        // PyTorch as the user would run it: not with the worker spin poolfault chose for itself.
        process.environment = ThreadPoolSpin.userEnvironment
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        // Its stderr (transformers' warnings, a traceback) goes to a file, shown only on failure.
        let logURL = directory.appendingPathComponent("pytorch.log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: logURL)
        // A child that dies mid-bench must be an error here, not SIGPIPE ending poolfault at the
        // next write to its stdin (this command writes to no other pipe or socket).
        signal(SIGPIPE, SIG_IGN)
        try process.run()
        toChild = input.fileHandleForWriting
        fromChild = LineReader(output.fileHandleForReading)
        self.logURL = logURL
        guard let line = fromChild.next(), let data = line.data(using: .utf8), let ready = try? JSONDecoder().decode(Ready.self, from: data) else {
            throw Self.ended(process, toChild, log: logURL, "did not start")
        }
        self.ready = ready
    }

    /// The child failed: ends it by its pid if it still runs (something else on its stdout, say),
    /// waits for it, and names its exit status and the last lines of its stderr.
    private static func ended(_ process: Process, _ toChild: FileHandle, log: URL, _ what: String) -> PyTorchError {
        try? toChild.close()
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        let lines = ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").suffix(3)
        return PyTorchError("PyTorch's forward process \(what) (exit status \(process.terminationStatus))"
                            + (lines.isEmpty ? "" : ": " + lines.joined(separator: " | ")))
    }

    /// One forward, timed by the child around the call alone (not the pipe).
    func forward() throws -> Double {
        guard (try? toChild.write(contentsOf: Data("run\n".utf8))) != nil, let line = fromChild.next(), let seconds = Double(line) else {
            throw Self.ended(process, toChild, log: logURL, "stopped answering")
        }
        return seconds
    }

    /// Ends the child: EOF on its stdin, which it answers by exiting; waits for that pid.
    func close() {
        try? toChild.close()
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning { process.terminate() }
    }

    /// The child. Everything it needs is in the spec; it prints one JSON line when ready, then
    /// one line of seconds per "run" line, and exits at EOF.
    static let script = #"""
    import json, os, sys, time
    spec = json.load(open(sys.argv[1]))
    import numpy as np, torch, transformers
    from transformers import AutoModel
    torch.set_num_threads(spec["threads"])
    model = AutoModel.from_pretrained(spec["model_dir"]).eval()
    inputs = {}
    for name, path in spec["inputs"].items():
        tensor = torch.from_numpy(np.load(path))
        inputs[name] = tensor if name == "pixel_values" else tensor.long()
    with torch.inference_mode():
        hidden = model(**inputs).last_hidden_state.numpy()
        worst = float(np.abs(hidden - np.load(spec["reference"])).max())
        print(json.dumps({"torch": torch.__version__, "transformers": transformers.__version__,
                          "threads": torch.get_num_threads(),
                          "attention": str(getattr(model.config, "_attn_implementation", "?")),
                          "waitPolicy": os.environ.get("OMP_WAIT_POLICY"),
                          "maxAbsVsReference": worst}), flush=True)
        for line in sys.stdin:
            start = time.perf_counter()
            model(**inputs)
            print(time.perf_counter() - start, flush=True)
    """#
}

struct PyTorchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Lines from a pipe, read as they come.
struct LineReader {
    private let handle: FileHandle
    private var buffer = Data()
    init(_ handle: FileHandle) { self.handle = handle }

    mutating func next() -> String? {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                return line
            }
            let chunk = handle.availableData
            if chunk.isEmpty { return nil }
            buffer.append(chunk)
        }
    }
}

/// poolfault's forward over PyTorch's, medians of the same alternating runs, with the targets
/// poolfault holds itself to: its CPU path at most 0.8× PyTorch's, its lavapipe path at most 1.5×.
struct PyTorchComparison: Encodable {
    static let webnnTarget = 0.8
    static let webgpuTarget = 1.5
    let webgpuRatio: Double
    let webnnRatio: Double
    let webnnTarget = PyTorchComparison.webnnTarget
    let webgpuTarget = PyTorchComparison.webgpuTarget

    init(webgpu: Double, webnn: Double, pytorch: Double) {
        webgpuRatio = webgpu / pytorch
        webnnRatio = webnn / pytorch
    }

    func printed() -> String {
        func verdict(_ ratio: Double, _ target: Double) -> String { ratio <= target ? "within \(target)×" : "above the \(target)× target" }
        return String(format: "  ÷ pytorch: webnn %.2f× (%@) · webgpu %.2f× (%@)", webnnRatio, verdict(webnnRatio, Self.webnnTarget),
                      webgpuRatio, verdict(webgpuRatio, Self.webgpuTarget))
    }
}
