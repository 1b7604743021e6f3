import BrowserLaunch
import BrowserProtocol
import CProcess
import Foundation
import Transformer
import TransformerGPU
import VulkanCompute

/// The worker role: one browser process. It maps the pool's weights, creates its contexts'
/// devices, queues and pipelines, then serves each context on its listening socket: a
/// connection per context, the token checked first, a request at a time. It knows no plan,
/// strategy or report; it lives until the pool ends it (SIGTERM: devices destroyed in order and
/// the validation log flushed, then exit 0; SIGKILL when it must not wait), or dies with the pool.
public enum BrowserWorker {
    /// Runs the worker; never returns. Exit status 3: it could not start (the reason on stderr).
    public static func main(spec: WorkerSpec) -> Never {
        let mainStart = WireStep.monotonicNanos
        // Die with the pool. The pool spawns from a thread that lives as long as it does (the
        // signal follows the spawning *thread*), and may already be gone: check after arming.
        _ = pf_set_parent_death_signal(SIGKILL)
        guard getppid() == spec.parentPID else { _exit(70) }
        // Held by this (main) thread until the process dies: the pool learns of a death when the
        // kernel releases it, before the address space is torn down (see DeathWatch).
        guard DeathWatch.hold(descriptor: spec.deathWatchDescriptor) else {
            say("poolfault: browser process \(spec.browser): cannot hold the death watch's mutex\n")
            _exit(3)
        }
        OrderlyEnd.arm()
        let token = readToken(spec.tokenDescriptor)
        do {
            let process = try WorkerProcess(spec: spec, token: token, mainStart: mainStart)
            process.serve()
        } catch {
            say("poolfault: browser process \(spec.browser) (pid \(getpid())) could not start: \(error)\n")
            _exit(3)
        }
    }
}

/// The worker's state: its contexts, their sockets, and what each first welcome reports.
final class WorkerProcess: @unchecked Sendable {  // immutable after init, except `startup` and `open` under `lock`
    let spec: WorkerSpec
    let token: String
    let instance: VulkanInstance
    let contexts: [WorkerContext]
    private let lock = NSLock()
    /// Each context's start steps, sent with its first welcome only.
    private var startup: [String: [WireStep]]
    private let validationFile: FileHandle?

    init(spec: WorkerSpec, token: String, mainStart: UInt64) throws {
        self.spec = spec
        self.token = token
        var shared = [WireStep(name: "process_start", startNanos: mainStart, seconds: 0)]
        let weights = try Timed.step("weight_mapping", &shared) { () throws -> WeightStore in
            if spec.weightsDirectory {
                return try WeightStore.load(directory: URL(fileURLWithPath: spec.weightsPath)).restricted(to: spec.config)
            }
            return try WeightStore.mapShared(path: spec.weightsPath, config: spec.config, source: .file(path: spec.weightsLabel))
        }
        // An image that does not check out is not used, and said: the contexts copy their weights instead.
        var image: WeightImage?
        if let path = spec.weightImagePath, let layout = spec.weightImageLayout {
            do {
                image = try Timed.step("weight_mapping", &shared) { try WeightImage(mapping: path, config: spec.config, layout: layout) }
            } catch {
                say("poolfault: browser process \(spec.browser): weights copied, not imported: \(error)\n")
            }
        }
        if let cached = FileManager.default.contents(atPath: spec.spirvCachePath) { ShaderCompiler.shared.importCache(cached) }
        let compiledBefore = ShaderCompiler.shared.cachedCount
        let instance = try Timed.step("instance_creation", &shared) {
            try VulkanInstance(validation: spec.validation || VulkanInstance.validationRequestedByEnvironment)
        }
        self.instance = instance
        let physical = try Timed.step("device_query", &shared) {
            try spec.selection.choose(among: try instance.physicalDevices(), identity: spec.deviceIdentity).device
        }
        // The pipeline-cache data a previous process of this run saved (where the driver has it:
        // on lavapipe the blob is a stub and Mesa's disk cache does the work).
        let uuid = physical.info.pipelineCacheUUID
        let pipelineCachePath = URL(fileURLWithPath: spec.spirvCachePath).deletingLastPathComponent()
            .appendingPathComponent("pipeline-\(uuid).cache").path
        if let blob = FileManager.default.contents(atPath: pipelineCachePath) { PipelineCacheStore.shared.seed(blob, for: uuid) }
        var built: [WorkerContext] = []
        var steps: [String: [WireStep]] = [:]
        var sharedDevice: ComputeDevice?
        if spec.sharedDevice {
            sharedDevice = try Timed.step("device_creation", &shared) {
                try ComputeDevice(physical: physical, label: "\(spec.browser) (shared)", queueCount: spec.contexts.count,
                                  stagedUploads: spec.stagedUploads)
            }
        }
        for (i, name) in spec.contexts.enumerated() {
            var own = shared
            let device = try sharedDevice ?? Timed.step("device_creation", &own) {
                try ComputeDevice(physical: physical, label: name, stagedUploads: spec.stagedUploads)
            }
            built.append(try WorkerContext(name: name, device: device, queue: i % device.queueCount, weights: weights,
                                           image: image, integrity: spec.integrity, steps: &own))
            steps[name] = own
        }
        contexts = built
        startup = steps
        validationFile = FileHandle(forWritingAtPath: spec.validationPath)
        validationFile?.seekToEndOfFile()
        if ShaderCompiler.shared.cachedCount > compiledBefore {
            Self.save(ShaderCompiler.shared.exportCache(), to: spec.spirvCachePath)
        }
        if !FileManager.default.fileExists(atPath: pipelineCachePath), let blob = PipelineCacheStore.shared.blob(for: uuid), !blob.isEmpty {
            Self.save(blob, to: pipelineCachePath)
        }
        if let misuse = spec.vulkanMisuse, let first = built.first { try first.stack.device.commit(misuse) }
        flushValidation()
        if spec.crashOnStart {
            // A browser that keeps crashing: a real crash of this process, after its devices exist.
            kill(getpid(), SIGKILL)
        }
    }

    /// Hands compiled data (SPIR-V, pipeline-cache data) to the next browser process of the
    /// run, atomically: a concurrent reader sees the old file or the new one.
    private static func save(_ data: Data, to path: String) {
        let temp = path + ".\(getpid()).tmp"
        guard FileManager.default.createFile(atPath: temp, contents: data, attributes: [.posixPermissions: 0o600]) else { return }
        _ = rename(temp, path)
    }

    /// Appends the validation layer's messages so far to the pool's file (a test fails on any).
    func flushValidation() {
        guard let log = instance.validationLog, let file = validationFile else { return }
        let messages = log.drain()
        guard !messages.isEmpty else { return }
        let me = "\(spec.browser) (pid \(getpid()))"
        let text = messages.map { "\($0.severity.rawValue)\t\($0.id)\t\(me): \($0.text.replacingOccurrences(of: "\n", with: " "))\n" }.joined()
        lock.withLock { file.write(Data(text.utf8)) }
    }

    /// Accepts on every context's socket; each connection is served on its own thread. The
    /// main thread waits for SIGTERM, then ends in order.
    func serve() -> Never {
        for (context, listener) in zip(contexts, spec.listenDescriptors) {
            let thread = Thread { [self] in acceptLoop(context, listener) }
            thread.name = "accept \(context.name)"
            thread.start()
        }
        OrderlyEnd.wait()
        // The pool sends it with no request in flight. Destroying each device destroys what it
        // still holds first; the layer reports what was never destroyed as the device goes.
        for context in contexts { context.stack.device.destroy(reason: "the pool ended this browser") }
        flushValidation()
        _exit(0)
    }

    /// Connections served at once per context: the pool needs one (a reconnect replaces it);
    /// a peer opening more (without the token, say) gets them closed, not a thread each.
    static let connectionLimit = 8
    private var open: [String: Int] = [:]

    private func acceptLoop(_ context: WorkerContext, _ listener: Int32) {
        while true {
            let fd = accept(listener, nil, nil)  // Connection sets close-on-exec (this process spawns nothing)
            guard fd >= 0 else {
                if errno == EINTR || errno == ECONNABORTED { continue }
                say("poolfault: browser process \(spec.browser): accept on \(context.name)'s socket failed: \(String(cString: strerror(errno)))\n")
                return
            }
            let admitted = lock.withLock { () -> Bool in
                guard open[context.name, default: 0] < Self.connectionLimit else { return false }
                open[context.name, default: 0] += 1
                return true
            }
            guard admitted else {
                Glibc.close(fd)
                continue
            }
            let thread = Thread { [self] in
                serve(Connection(fd: fd), context)
                lock.withLock { open[context.name, default: 1] -= 1 }
            }
            thread.name = "serve \(context.name)"
            thread.start()
        }
    }

    /// One connection: the handshake, then requests until the pool hangs up. A reader thread
    /// queues requests as they arrive (up to the pool's window), this thread runs them in the
    /// order sent and answers each in turn — the order `RequestPipeline` counts deadlines by.
    /// A connection without the token, or one that breaks the protocol, is closed and logged;
    /// the context and its weights stay, waiting for the next connection.
    private func serve(_ connection: Connection, _ context: WorkerContext) {
        let steps = lock.withLock { startup.removeValue(forKey: context.name) ?? [] }
        let welcome = Message.welcome(version: Message.version, pid: getpid(), context: context.name,
                                      device: context.stack.device.physical.info.name, deviceIdentity: context.stack.device.physical.info.identity,
                                      deviceSerial: UInt64(context.stack.device.serial), startup: steps,
                                      compute: context.stack.summary)
        do {
            try Handshake.accept(connection, token: token, welcome: welcome, deadline: .seconds(10))
        } catch {
            if !steps.isEmpty { lock.withLock { startup[context.name] = steps } }
            if case .protocolViolation(.badToken) = error {
                say("poolfault: browser process \(spec.browser) (pid \(getpid())) refused a connection to \(context.name): \(error)\n")
            }
            connection.close()
            return
        }
        let queue = RequestQueue(capacity: spec.requestsInFlight)
        let reader = Thread {
            while true {
                do throws(ConnectionError) {
                    guard queue.put(try connection.receive(deadline: .seconds(3600))) else { return }
                } catch .deadline {
                    continue  // an idle pool: keep waiting
                } catch {
                    queue.close()  // EOF (the pool hung up or dropped us) or garbage
                    return
                }
            }
        }
        reader.name = "read \(context.name)"
        reader.start()
        while let request = queue.take() {
            let reply = context.handle(request)
            flushValidation()
            do { try connection.send(reply, deadline: .seconds(30)) } catch { break }
        }
        queue.close()
        connection.close()  // wakes the reader, which then ends
    }
}

/// The run's token from its pipe (a few dozen bytes; the pool closed its end), then the pipe closed.
func readToken(_ fd: Int32) -> String {
    guard fd >= 0 else { return "" }
    var bytes: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 256)
    while bytes.count < 4096 {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        bytes += chunk[0..<n]
    }
    close(fd)
    return String(decoding: bytes, as: UTF8.self)
}

/// One line on stderr (inherited from the pool, so it shows in the pool's log).
func say(_ line: String) {
    FileHandle.standardError.write(Data(line.utf8))
}
