import Transformer

/// Whether a pool can host a fault scenario at all, decided from its configuration before any
/// device is created. A scenario tests fault *tolerance*: the fault needs a webgpu context to
/// hit (faults tear Vulkan objects down; a webnn context is the CPU path), and the pool needs a
/// context outside the fault to fail over to, whatever the seed draws. A configuration that
/// cannot offer both is refused up front with the reason (the CLI exits 64), instead of failing
/// every scenario after building a pool, or passing and failing by the luck of the draw.
extension PoolConfiguration {
    /// Why this pool cannot host `kind` with `target`, or nil when it can.
    public func refusal(toHost kind: FaultKind, target: FaultTarget) -> String? {
        let entries = contextNames
        let gpu = entries.filter { !webnnBrowsers.contains($0.browser) }
        let browserCount = Set(entries.map(\.browser)).count
        let gpuBrowsers = Set(gpu.map(\.browser))
        guard !gpu.isEmpty else {
            return "every browser is webnn (--webnn \(webnnBrowsers.sorted().joined(separator: ","))): no webgpu context for a fault to hit"
        }
        // The context (and browser) the target names, when it names one.
        var victim: (name: String, browser: String)?
        switch target {
        case .drawn:
            break
        case .named(let name):
            guard !name.isEmpty else { return "--fault-target is empty: name a context (\(gpu.map(\.name).joined(separator: ", "))) or give an index" }
            guard let hit = entries.first(where: { $0.name == name || $0.browser == name }) else {
                return "--fault-target \(name) is not in the pool: the webgpu contexts are \(gpu.map(\.name).joined(separator: ", "))"
            }
            guard gpu.contains(where: { $0.name == hit.name }) else {
                return "--fault-target \(name) is a webnn context (the CPU path): faults tear down Vulkan objects; the webgpu contexts are \(gpu.map(\.name).joined(separator: ", "))"
            }
            victim = hit
        case .index(let i):
            guard gpu.indices.contains(i) else {
                return "--fault-target \(i) is out of range: the \(gpu.count) webgpu context\(gpu.count == 1 ? " has index 0" : "s have indices 0...\(gpu.count - 1)") (\(gpu.map(\.name).joined(separator: ", ")))"
            }
            victim = gpu[i]
        }
        switch kind {
        case .connectionLost, .componentFailure, .silentCorruption:
            guard entries.count >= 2 else {
                return "\(kind.rawValue) needs a second context to fail over to: add a browser to --browsers"
            }
        case .browserCrash, .gpuHang, .browserFreeze:
            if kind == .gpuHang && isolation == .thread {
                return "gpu_hang needs --isolation process: a hung queue cannot be reclaimed inside one process (its device cannot even be destroyed), so recovery must kill the browser's process"
            }
            if kind == .browserFreeze && isolation == .thread {
                return "browser_freeze needs --isolation process: it stops a browser's process (SIGSTOP), and in thread isolation there is none"
            }
            // A crash (or a hang, whose recovery kills the process) takes every context of the browser down.
            let crashable = victim.map { [$0.browser] } ?? Array(gpuBrowsers)
            for browser in crashable.sorted() where !entries.contains(where: { $0.browser != browser }) {
                return "\(kind.rawValue) of \(browser) takes down every context of the pool (\(entries.map(\.name).joined(separator: ", "))): add another browser to --browsers"
            }
        case .cascadingFailure:
            // Two browsers may go down (the first crash, and the failover target during recovery): a third must serve.
            let crashable = victim.map { [$0.browser] } ?? Array(gpuBrowsers)
            for browser in crashable.sorted() where !entries.contains(where: { $0.browser != browser }) {
                return "cascading_failure of \(browser) takes down every context of the pool (\(entries.map(\.name).joined(separator: ", "))): add another browser to --browsers"
            }
            guard gpuBrowsers.count >= 3 else {
                return "cascading_failure crashes a browser, then another during recovery (the failover target, or the rebuilt one again): it needs three webgpu browsers so one always serves; the pool has \(gpuBrowsers.count) (\(gpuBrowsers.sorted().joined(separator: ", "))): add a browser to --browsers or take one out of --webnn"
            }
        case .multipleFailures:
            guard gpuBrowsers.count >= 2 else {
                return "multiple_failures strikes two different webgpu browsers; the pool has \(gpuBrowsers.count) (\(gpuBrowsers.sorted().joined(separator: ", "))): add a browser to --browsers or take one out of --webnn"
            }
            guard browserCount >= 3 else {
                return "multiple_failures may crash both browsers of the pool (\(entries.map(\.name).joined(separator: ", "))), leaving no context to fail over to: add a third browser to --browsers"
            }
        }
        return nil
    }
}
