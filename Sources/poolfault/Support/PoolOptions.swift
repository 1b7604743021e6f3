import ArgumentParser

/// The pool flags `run` and `bench recovery` share: which browsers, a browser that keeps
/// crashing, and the trace.
struct PoolOptions: ParsableArguments {
    @Option(help: "Browsers, one context each (comma-separated).")
    var browsers = "chrome,firefox,edge"

    @Option(parsing: .unconditional, help: "The faulted browser crashes again on each of its next N starts (simulated), to exercise the restart budget (3 rebuilds) and the circuit breaker: recoveries that must fail.")
    var keepCrashing = 0

    @Option(help: "Also write a trace (Chrome Trace Event Format; open it in ui.perfetto.dev or chrome://tracing) to this file.")
    var trace: String?

    var browserList: [String] { browsers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }

    func validate() throws {
        guard keepCrashing >= 0 else { throw ValidationError("--keep-crashing must be 0 or more (got \(keepCrashing))") }
        guard !browserList.isEmpty else { throw ValidationError("--browsers needs at least one browser") }
    }
}
