import Foundation
import ResourcePool

/// The run as one self-contained HTML file: inline CSS and SVG, nothing loaded from anywhere, so
/// it opens from a file:// URL or a CI artifact. The verdict, each scenario's phases as the
/// terminal shows them, a timeline of phases, shard runs, uploads and recovery steps by context
/// with the fault marked, numerics and devices. Light and dark (prefers-color-scheme); every
/// verdict is written in words and symbols (✓/✗, which every font has), never in colour alone. Well-formed XML too, so
/// tests parse it strictly.
public enum HTMLReport {
    public static func render(_ report: FaultTestReport) -> String {
        let info = report.testInfo, summary = report.summary
        let verdict = summary.overallSuccess ? "✓ SUCCESS" : "✗ FAILURE"
        var body: [String] = []
        body.append("<header><h1>FAULT TOLERANCE TEST RESULTS — \(e(info.model))</h1>")
        body.append("<p class=\"verdict \(summary.overallSuccess ? "ok" : "fail")\">\(verdict) · \(summary.successfulScenarios)/\(summary.totalScenarios) scenarios · success rate \(String(format: "%.1f", summary.successRate))%</p>")
        body.append("<dl class=\"info\">")
        for (key, value) in [("Recovery strategy", info.recoveryStrategy), ("Timestamp", info.timestamp), ("Seed", "\(info.seed)"),
                             ("Browsers", info.browsers.joined(separator: ", ")), ("Shards (\(info.shardType))", info.shards.joined(separator: " │ ")),
                             ("Model size", "\(info.layers) layers, sequence \(info.sequenceLength)"), ("Weights", info.weights),
                             ("Context mode", info.contextMode), ("Shader cache", info.shaderCache), ("Tool", "poolfault \(info.toolVersion)")] {
            body.append("<dt>\(e(key))</dt><dd>\(e(value))</dd>")
        }
        body.append("</dl>")
        body.append("<table class=\"devices\"><caption>Devices</caption><thead><tr><th>context</th><th>backend</th><th>device</th><th>driver</th><th>compute</th></tr></thead><tbody>")
        for d in info.devices {
            body.append("<tr><td>\(e(d.context))</td><td>\(e(d.backend))</td><td>\(e(d.name))\(d.software ? " (software)" : "")</td><td>\(e(d.driver))</td><td>\(e(d.compute ?? ""))</td></tr>")
        }
        body.append("</tbody></table></header>")
        body.append("<nav><ul>")
        let keys = ScenarioResult.reportKeys(for: report.scenarios)
        for (key, s) in zip(keys, report.scenarios) {
            body.append("<li><a href=\"#scenario-\(e(key))\">\(s.overallSuccess ? "✓" : "✗") \(e(key))</a></li>")
        }
        body.append("</ul></nav><main>")
        let contexts = info.devices.map(\.context)
        for (key, s) in zip(keys, report.scenarios) { body.append(scenario(key, s, contexts: contexts)) }
        body.append("</main><footer>poolfault \(e(info.toolVersion)) · report schema \(e(report.schemaVersion)) · times are measured on one monotonic clock per run</footer>")
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1"/>
            <title>poolfault \(e(info.model)): \(verdict)</title>
            <style>\(css)</style></head>
            <body>
            \(body.joined(separator: "\n"))
            </body></html>

            """
    }

    /// Writes the report to `url`, replacing it.
    public static func write(_ report: FaultTestReport, to url: URL) throws {
        try ReportFiles.replace(url, with: Data(render(report).utf8))
    }

    static func scenario(_ key: String, _ s: ScenarioResult, contexts: [String]) -> String {
        var out = ["<section class=\"scenario\" id=\"scenario-\(e(key))\">",
                   "<h2>\(s.overallSuccess ? "✓" : "✗") SCENARIO: \(e(key)) — \(s.overallSuccess ? "SUCCESS" : "FAILURE")</h2>",
                   "<p class=\"description\">\(e(s.description))</p>",
                   "<table class=\"phases\"><thead><tr><th></th><th>phase</th><th>time</th><th>message</th></tr></thead><tbody>"]
        for phase in s.phases {
            let ok = phase.result.success
            out.append("<tr class=\"\(ok ? "ok" : "fail")\"><td>\(ok ? "✓" : "✗")</td><td>\(e(phase.name.rawValue))</td><td class=\"num\">\(String(format: "%.2fs", phase.result.duration))</td><td>\(e(phase.result.message))</td></tr>")
        }
        out.append("</tbody></table>")
        out.append("<figure>\(TimelineSVG.render(s, id: "timeline-\(key)", contexts: contexts))<figcaption>Timeline of \(e(key)): phases on top, then each context's work; hover a box for its name and time.<a class=\"zoom\" href=\"#timeline-\(e(key))\">full window</a></figcaption></figure>")
        if let fault = s.fault {
            out.append("<p><strong>Fault:</strong> \(e(fault.kind.rawValue)) on \(e(fault.targets.joined(separator: ", "))) (\(fault.simulated ? "simulated" : "real")): \(e(fault.teardown.joined(separator: "; ")))</p>")
        }
        if let r = s.recovery {
            out.append("<p><strong>Recovery (\(e(r.strategy))):</strong> \(r.success ? "✓" : "✗") \(e(r.message)) · \(ReportFormat.milliseconds(r.duration)) · \(ReportFormat.bytes(r.bytesUploaded)) re-uploaded"
                       + (r.contextsRebuilt.isEmpty ? "" : " · rebuilt \(e(r.contextsRebuilt.joined(separator: ", ")))")
                       + (r.contextsReconnected.isEmpty ? "" : " · reconnected \(e(r.contextsReconnected.joined(separator: ", ")))") + "</p>")
        }
        if let c = s.corruption {
            out.append("<p><strong>Silent corruption:</strong> \(e(TerminalReport.corruptionText(c).dropFirst("Silent corruption: ".count).description))</p>")
            if !c.detections.isEmpty {
                out.append("<table class=\"numerics\"><caption>Caught</caption><thead><tr><th>after</th><th>check</th><th>context</th><th>shard</th><th>where</th><th>what it saw</th></tr></thead><tbody>")
                let since = c.injected == nil ? nil : s.fault?.start
                for d in c.detections {
                    out.append("<tr><td class=\"num\">\(since.map { ReportFormat.milliseconds(d.t - $0) } ?? "—")</td><td>\(e(d.detector.rawValue))</td><td>\(e(d.context))</td><td>\(d.shard.map(String.init) ?? "—")</td><td>\(e([d.component, d.tensor].compactMap { $0 }.joined(separator: " · ")))</td><td>\(e(d.detail))</td></tr>")
                }
                out.append("</tbody></table>")
            }
        }
        if !s.numerics.isEmpty {
            out.append("<table class=\"numerics\"><caption>Against the CPU reference</caption><thead><tr><th>inference</th><th>max abs error</th><th>relative L2</th><th>route</th><th>latency</th></tr></thead><tbody>")
            for key in ScenarioResult.orderedNumericsKeys(s.numerics) {
                guard let n = s.numerics[key] else { continue }
                out.append("<tr><td>\(e(key))</td><td class=\"num\">\(ReportFormat.scientific(n.maxAbsError))</td><td class=\"num\">\(ReportFormat.scientific(n.relativeL2))</td><td>\(e(n.route.joined(separator: " → ")))\(n.degraded ? " (degraded)" : "")</td><td class=\"num\">\(ReportFormat.milliseconds(n.latency))</td></tr>")
            }
            out.append("</tbody></table>")
        }
        out.append("</section>")
        return out.joined(separator: "\n")
    }

    static func e(_ text: String) -> String { MarkupText.escape(text) }

    /// Shared with `bench recovery --html`.
    public static let css = """
        :root { --bg: #ffffff; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --ok: #1a7f37; --fail: #cf222e;
          --phase: #ddf4ff; --run: #0969da; --upload: #bf8700; --init: #8c959f; --step: #8250df; --fault: #cf222e; }
        @media (prefers-color-scheme: dark) { :root { --bg: #0d1117; --fg: #e6edf3; --muted: #8d96a0; --line: #30363d;
          --ok: #3fb950; --fail: #f85149; --phase: #1f3a5f; --run: #4493f8; --upload: #d29922; --init: #6e7681; --step: #a371f7; --fault: #f85149; } }
        body { background: var(--bg); color: var(--fg); font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 16px; }
        h1 { font-size: 20px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid var(--line); }
        .verdict { font-size: 18px; font-weight: 600; } .verdict.ok { color: var(--ok); } .verdict.fail { color: var(--fail); }
        dl.info { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; } dt { color: var(--muted); } dd { margin: 0; }
        table { border-collapse: collapse; margin: 8px 0; width: 100%; } caption { text-align: left; color: var(--muted); }
        th, td { border-bottom: 1px solid var(--line); padding: 3px 6px; text-align: left; vertical-align: top; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        tr.fail td { color: var(--fail); } nav ul { display: flex; gap: 14px; list-style: none; padding: 0; flex-wrap: wrap; }
        a { color: var(--run); } footer, .note, figcaption { color: var(--muted); font-size: 12px; }
        svg.timeline, svg.chart { width: 100%; height: auto; font: 11px system-ui, sans-serif; }
        svg text { fill: var(--fg); } .row-label { fill: var(--muted); } .guide, .tick { stroke: var(--line); stroke-width: 1; }
        .axis { fill: var(--muted); }
        .phase rect { fill: var(--phase); stroke: var(--run); } .phase.fail rect { fill: var(--bg); stroke: var(--fail); stroke-width: 2; stroke-dasharray: 4 2; }
        .run rect { fill: var(--run); } .run text { fill: var(--bg); } .legend text { fill: var(--fg); font-weight: 400; }
        .upload rect { fill: var(--upload); } .init rect { fill: var(--init); }
        .step rect { fill: none; stroke: var(--step); stroke-width: 2; } .step text { fill: var(--step); font-weight: 600; }
        .fault line { stroke: var(--fault); stroke-width: 2; stroke-dasharray: 5 3; } .fault text { fill: var(--fault); font-weight: 600; }
        .fault.legend rect { fill: var(--fault); } .failover path, .failover.legend rect { fill: var(--fail); }
        .corruption path, .corruption.legend rect { fill: var(--fault); stroke: var(--fail); }
        rect.bar { fill: var(--ok); } rect.bar.changed { fill: var(--run); }
        .cdf { fill: none; stroke: var(--run); stroke-width: 2; } .control { stroke: var(--init); stroke-dasharray: 6 3; }
        .pct { stroke: var(--step); stroke-width: 1.5; }
        svg.timeline:target { position: fixed; inset: 0; width: 100vw; height: 100vh; background: var(--bg); z-index: 10; }
        .zoom { font-size: 12px; margin-left: 8px; }
        """
}
