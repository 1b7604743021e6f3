import BrowserProtocol
import BrowserLaunch
import Foundation
import Transformer
import VulkanCompute

/// One browser of a process-isolated pool: the OS process hosting all of its contexts
/// ("chrome" and "chrome-2"), spawned on demand and respawned after it died. It builds the
/// worker's spec, hands over the listening sockets, the shared weights and the SPIR-V, and
/// connects a context to its socket.
final class BrowserHost: @unchecked Sendable {  // mutable state under `lock`
    let browser: String
    let contexts: [String]
    private let directory: RunDirectory
    private let environment: GPUEnvironment
    private let configuration: PoolConfiguration
    private let executable: String
    private let log: EventLog
    private let onExit: @Sendable (BrowserProcess, BrowserProcess.Ending?, String?) -> Void
    private let lock = NSLock()
    private var current: BrowserProcess?
    /// Every process this browser ever had (the pool ends each).
    private var spawned: [BrowserProcess] = []
    /// Each time the watchdog fired: when (seconds since the run started) and how long the
    /// hung request had waited.
    private var firings: [(t: Double, waited: Double)] = []

    init(browser: String, contexts: [String], directory: RunDirectory, environment: GPUEnvironment,
         configuration: PoolConfiguration, executable: String, log: EventLog,
         onExit: @escaping @Sendable (BrowserProcess, BrowserProcess.Ending?, String?) -> Void) {
        self.browser = browser
        self.contexts = contexts
        self.directory = directory
        self.environment = environment
        self.configuration = configuration
        self.executable = executable
        self.log = log
        self.onExit = onExit
    }

    deinit { _ = shutdown() }  // a pool that was never shut down: its processes end all the same

    var process: BrowserProcess? { lock.withLock { current } }

    /// The watchdog killed this browser's process: a request to `context` waited `waited` s,
    /// or the process was frozen (`why`).
    func recordWatchdog(context: String, waited: Double, pid: Int32, why: String) {
        let t = log.now
        lock.withLock { firings.append((t, waited)) }
        log.record("watchdog", context: context, "\(why): SIGKILL to pid \(pid)")
    }

    /// How long the first request the watchdog gave up on at or after `t` had waited.
    func watchdogWait(atOrAfter t: Double) -> Double? { lock.withLock { firings.first { $0.t >= t }?.waited } }
    var allProcesses: [BrowserProcess] { lock.withLock { spawned } }

    /// The live process, spawning one if there is none. Returns the spawn's start instant
    /// when this call spawned it (its first context reports the process's start steps).
    /// `deviceIdentity`: the device to start on instead of the browser's own (a demotion to software Vulkan).
    func liveProcess(crashOnStart: Bool, deviceIdentity: String? = nil) throws -> (BrowserProcess, spawnedAt: ContinuousClock.Instant?) {
        try lock.withLock {
            if let current, !current.hasExited { return (current, nil) }
            let start = ContinuousClock.now
            let process = try spawn(crashOnStart: crashOnStart, deviceIdentity: deviceIdentity)
            current = process
            spawned.append(process)
            log.record("process", context: contexts.first, "\(browser): started pid \(process.pid)")
            return (process, start)
        }
    }

    private func spawn(crashOnStart: Bool, deviceIdentity: String?) throws -> BrowserProcess {
        let shared = try environment.sharedWeightFile()
        let watch = try DeathWatch()
        var listeners: [Int32] = []
        defer { listeners.forEach { close($0) } }  // the child has its copies: ours must go, or a dead child's socket would still accept
        for context in contexts { listeners.append(try Self.listen(at: directory.socketPath(context))) }
        let selection = environment.selection
        var index: Int?, name: String?
        switch selection.choice {
        case .automatic: break
        case .index(let i): index = i
        case .name(let n): name = n
        }
        // `--devices`: the browser's own device, found again by UUID in the new process.
        let home = configuration.browserDevices[browser].flatMap {
            environment.physicalDevices.indices.contains($0) ? environment.physicalDevices[$0] : nil
        }
        var spec = WorkerSpec(browser: browser, contexts: contexts, sharedDevice: configuration.contextMode == .queue,
                              config: environment.config, weightsPath: SharedWeightFile.path(descriptor: 3), weightsDirectory: false,
                              weightsLabel: "\(environment.weights.source)", deviceIndex: index, deviceName: name,
                              requireGPU: selection.requireGPU, stagedUploads: environment.stagedUploads,
                              listenDescriptors: contexts.indices.map { Int32(5 + $0) }, deathWatchDescriptor: 4, parentPID: getpid(),
                              spirvCachePath: directory.spirvCachePath, validationPath: directory.validationPath,
                              crashOnStart: crashOnStart, deviceIdentity: deviceIdentity ?? home?.identity,
                              integrity: configuration.integrity)
        // The token through a pipe, never the environment (which /proc/<pid>/environ shows for life).
        var tokenPipe: [Int32] = [-1, -1]
        guard pipe(&tokenPipe) == 0 else { throw PoolError.isolation("pipe for the run's token: \(String(cString: strerror(errno)))") }
        for fd in tokenPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        defer { close(tokenPipe[0]) }
        let written = Array(directory.token.utf8).withUnsafeBytes { write(tokenPipe[1], $0.baseAddress, $0.count) }
        close(tokenPipe[1])
        guard written == directory.token.utf8.count else { throw PoolError.isolation("could not hand the run's token to the browser process") }
        spec.tokenDescriptor = Int32(5 + contexts.count)
        // The weights in the kernel layout of the device this browser will use, to import.
        let (image, note) = environment.weightImage(for: home ?? environment.initialDevice)
        if let note { log.record("device", context: contexts.first, "\(browser): \(note)") }
        if let image, image.file != nil {
            spec.weightImagePath = SealedMemoryFile.path(descriptor: spec.tokenDescriptor + 1)
            spec.weightImageLayout = image.layout
        }
        spec.validation = environment.instance?.validationLog != nil
        spec.requestsInFlight = configuration.requestsInFlight
        if browser == configuration.browsers.first { spec.vulkanMisuse = configuration.vulkanMisuse }
        let json = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)
        let env = ProcessInfo.processInfo.environment
        let descriptors = [(shared.readOnlyDescriptor, Int32(3)), (watch.descriptor, Int32(4))]
            + listeners.enumerated().map { ($0.element, Int32(5 + $0.offset)) } + [(tokenPipe[0], spec.tokenDescriptor)]
            + (image?.file.map { [($0.readOnlyDescriptor, spec.tokenDescriptor + 1)] } ?? [])
        let pid = try ProcessSpawner.shared.spawn(.init(executable: executable, arguments: ["worker", "--spec", json],
                                                        environment: env, descriptors: descriptors))
        watch.closeDescriptor()  // the child has its copy; the mapping stays
        return BrowserProcess(pid: pid, browser: browser, deathWatch: watch, onExit: onExit)
    }

    /// A listening Unix socket at `path` (replacing a dead process's), owner-only.
    static func listen(at path: String) throws -> Int32 {
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw PoolError.isolation("socket(): \(String(cString: strerror(errno)))") }
        let ok = withAddress(path) { bind(fd, $0, $1) } == 0 && chmod(path, 0o600) == 0 && Glibc.listen(fd, 64) == 0
        guard ok else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw PoolError.isolation("cannot listen on \(path): \(why)")
        }
        return fd
    }

    /// A new connection to `context`'s socket (the worker accepts when it is ready).
    func dial(_ context: String) throws -> Connection {
        let path = directory.socketPath(context)
        // Non-blocking, so that no call on it can wait past its deadline: a connect to a browser
        // that stopped accepting fails at once (EAGAIN) instead of waiting for room in its backlog;
        // Connection polls before every read and write.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw PoolError.isolation("socket(): \(String(cString: strerror(errno)))") }
        guard Self.withAddress(path, { connect(fd, $0, $1) }) == 0 else {
            let code = errno
            close(fd)
            throw ConnectionError.closed("connect to \(path): \(String(cString: strerror(code)))")
        }
        return Connection(fd: fd)
    }

    static func withAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { errno = ENAMETOOLONG; return -1 }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    /// Ends every process of this browser and waits for each (the pool's end).
    /// Asks every process of this browser to end in order (the pool asks all browsers first,
    /// then waits for each).
    func beginShutdown() {
        for process in allProcesses { process.requestExit(reason: "pool shut down") }
    }

    /// Ends every process of this browser; returns those that missed the orderly deadline.
    func shutdown() -> [BrowserProcess] {
        allProcesses.filter { !$0.terminate(reason: "pool shut down") }
    }
}
