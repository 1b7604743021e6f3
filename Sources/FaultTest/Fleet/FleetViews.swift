import Foundation

/// The fleet report's four views: JSON (the record), terminal text, JUnit (a testcase per
/// node, for CI dashboards) and a self-contained HTML page in the run report's look.
public enum FleetViews {
    public static func json(_ fleet: FleetReport) throws(ReportWriteError) -> Data {
        do { return try OrderedJSONEncoder().encode(fleet) } catch { throw .unencodable(reason: "\(error)") }
    }

    public static func decode(_ data: Data) throws -> FleetReport {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(FleetReport.self, from: data)
    }

    /// The rows worth a person's eye: detection and recovery per scenario × strategy (steps and
    /// soak requests stay in the JSON and HTML).
    static func headline(_ fleet: FleetReport) -> [FleetReport.Latency] {
        fleet.latency.filter { $0.metric == "detection" || $0.metric == "recovery" }
    }

    public static func terminal(_ fleet: FleetReport) -> String {
        let rule = String(repeating: "=", count: 80)
        let s = fleet.summary
        var out = [rule, "FLEET VALIDATION RESULTS - \(s.nodes) node\(s.nodes == 1 ? "" : "s"), \(s.reports) report\(s.reports == 1 ? "" : "s")",
                   "Merged: \(fleet.mergedAt)", rule, ""]
        // What an operator wants first: nodes whose checks caught corruption nobody injected, or served a wrong answer.
        if let suspect = s.silentCorruptionNodes, !suspect.isEmpty {
            out += ["SILENT CORRUPTION (caught with none injected, or wrong answers served): \(suspect.joined(separator: ", "))", ""]
        }
        for node in fleet.nodes {
            let kinds = node.reports.map { r in "\(r.tool.replacingOccurrences(of: "poolfault ", with: ""))\(r.level.map { " \($0)" } ?? "") \(r.pass ? "✓" : "✗")" }
            let gpus = Dictionary(grouping: node.gpus.filter { !$0.software }, by: \.name).map { "\($0.key) ×\($0.value.count)" }.sorted()
            var line = "NODE: \(node.node) - \(node.pass ? "✅ PASSED" : "❌ FAILED")  (\(kinds.joined(separator: ", "))"
            if !gpus.isEmpty { line += "; \(gpus.joined(separator: ", "))" }
            if node.softwareVulkan { line += "; software Vulkan" }
            out.append(line + ")")
            if let c = node.silentCorruption { out.append("  silent corruption: \(c.summary)") }
            for r in node.reports where r.scheduler != nil { out.append("  \(r.scheduler!.label): \(r.pass ? "passed" : "failed")") }
            out += node.reasons.map { "  ✗ \($0)" }
        }
        out.append("")
        let rows = headline(fleet)
        if !rows.isEmpty {
            let width = max(40, rows.map { $0.key.label.count }.max() ?? 0)
            out.append(ReportFormat.leftJustified("FLEET LATENCY (ms; histograms added)", width) + "  count nodes      p50      p90      p99    p99.9      max")
            for r in rows {
                out.append(ReportFormat.leftJustified(r.key.label, width)
                           + String(format: " %6llu %5d %8.2f %8.2f %8.2f %8.2f %8.2f", r.count, r.nodes, r.p50Ms, r.p90Ms, r.p99Ms, r.p999Ms, r.maxMs))
            }
            out.append("")
        }
        if fleet.outliers.isEmpty {
            out.append("OUTLIERS (p50 beyond \(String(format: "%g", fleet.outlierFactor))× the fleet's): none")
        } else {
            out.append("OUTLIERS (p50 beyond \(String(format: "%g", fleet.outlierFactor))× the fleet's):")
            for o in fleet.outliers {
                let key = HistogramKey(metric: o.metric, scenario: o.scenario, strategy: o.strategy, isolation: o.isolation, step: o.step)
                out.append(String(format: "  %@: %@ p50 %.2f ms = %.1f× the fleet's %.2f ms", o.node, key.label, o.nodeP50Ms, o.ratio, o.fleetP50Ms))
            }
        }
        if !s.softwareVulkanNodes.isEmpty {
            out.append("SOFTWARE VULKAN (proves nothing about a GPU): \(s.softwareVulkanNodes.joined(separator: ", "))")
        }
        if s.missingNodes > 0 { out.append("MISSING: \(s.missingNodes) of the \(s.expectedNodes ?? 0) expected nodes sent no report") }
        if let extra = s.unexpectedNodes { out.append("UNEXPECTED: \(extra) node\(extra == 1 ? "" : "s") more than the \(s.expectedNodes ?? 0) expected reported") }
        if let copies = s.duplicateReports { out.append("DUPLICATES (counted once): " + copies.joined(separator: "; ")) }
        out += [rule, "Nodes: \(s.nodes) · passed \(s.nodesPassed) · failed \(s.failedNodes.count)"
                + (s.failedNodes.isEmpty ? "" : " (\(s.failedNodes.joined(separator: ", ")))")
                + (s.expectedNodes.map { " · expected \($0)" } ?? ""),
                "Overall Result: " + (s.pass ? "✅ SUCCESS" : "❌ FAILED"), rule]
        return out.joined(separator: "\n")
    }

    public static func junit(_ fleet: FleetReport) -> String {
        let s = fleet.summary
        let counts = "tests=\"\(s.nodes + s.missingNodes)\" failures=\"\(s.failedNodes.count + s.missingNodes)\" errors=\"0\""
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"poolfault fleet\" \(counts)>\n"
        out += "  <testsuite name=\"poolfault fleet\" \(counts) skipped=\"0\" timestamp=\"\(a(String(fleet.mergedAt.prefix(19))))\">\n"
        for node in fleet.nodes {
            out += "    <testcase classname=\"fleet\" name=\"\(a(node.node))\">\n"
            if !node.pass {
                out += "      <failure message=\"\(a(node.reasons.first ?? "failed"))\" type=\"node\">\(t(node.reasons.joined(separator: "\n")))</failure>\n"
            }
            let lines = node.reports.map { r in
                "\(r.tool) \(r.timestamp ?? "") \(r.pass ? "passed" : "failed")\(r.scheduler.map { " (\($0.label))" } ?? "") \(r.file)"
            } + (node.silentCorruption.map { ["silent corruption: \($0.summary)"] } ?? []) + node.latency.filter { $0.metric == "recovery" || $0.metric == "detection" }.map {
                String(format: "%@ · %@/%@: p50 %.2f ms, p99 %.2f ms (%llu)", $0.metric, $0.scenario, $0.strategy ?? "-", $0.p50Ms, $0.p99Ms, $0.count)
            }
            out += "      <system-out>\(t(lines.joined(separator: "\n")))</system-out>\n    </testcase>\n"
        }
        for i in 0..<s.missingNodes {
            out += "    <testcase classname=\"fleet\" name=\"missing node \(i + 1)\">\n      <failure message=\"no report (expected \(s.expectedNodes ?? 0) nodes, got \(s.nodes))\" type=\"missing\"/>\n    </testcase>\n"
        }
        return out + "  </testsuite>\n</testsuites>\n"
    }

    public static func html(_ fleet: FleetReport) -> String {
        let s = fleet.summary
        let verdict = s.pass ? "✓ SUCCESS" : "✗ FAILURE"
        var body = ["<header><h1>FLEET VALIDATION RESULTS — \(s.nodes) node\(s.nodes == 1 ? "" : "s")</h1>",
                    "<p class=\"verdict \(s.pass ? "ok" : "fail")\">\(verdict) · \(s.nodesPassed)/\(s.nodes) nodes passed · \(s.reports) reports</p>",
                    "<dl class=\"info\"><dt>Merged</dt><dd>\(e(fleet.mergedAt))</dd><dt>Outlier factor</dt><dd>\(String(format: "%g", fleet.outlierFactor))× the fleet p50</dd>"
                    + (s.missingNodes > 0 ? "<dt>Missing</dt><dd>\(s.missingNodes) of \(s.expectedNodes ?? 0) expected nodes sent no report</dd>" : "")
                    + "<dt>Failed nodes</dt><dd>\(e(s.failedNodes.isEmpty ? "none" : s.failedNodes.joined(separator: ", ")))</dd>"
                    + "<dt>Silent corruption</dt><dd>\(e((s.silentCorruptionNodes ?? []).isEmpty ? "no node caught any nobody injected, or served a wrong answer" : (s.silentCorruptionNodes ?? []).joined(separator: ", ")))</dd>"
                    + "<dt>Software Vulkan</dt><dd>\(e(s.softwareVulkanNodes.isEmpty ? "none" : s.softwareVulkanNodes.joined(separator: ", ")))</dd></dl></header><main>"]
        body.append("<table class=\"nodes\"><caption>Nodes</caption><thead><tr><th></th><th>node</th><th>reports</th><th>devices</th><th>why</th></tr></thead><tbody>")
        for n in fleet.nodes {
            let reports = n.reports.map { "\($0.pass ? "✓" : "✗") \($0.tool.replacingOccurrences(of: "poolfault ", with: ""))\($0.level.map { " \($0)" } ?? "")\($0.scheduler.map { " · \($0.label)" } ?? "")" }
            let devices = n.gpus.map { "\($0.name)\($0.software ? " (software)" : "") \($0.uuid)" }
            body.append("<tr class=\"\(n.pass ? "ok" : "fail")\"><td>\(n.pass ? "✓" : "✗")</td><td>\(e(n.node))</td><td>\(reports.map(e).joined(separator: "<br/>"))</td>"
                        + "<td>\(devices.map(e).joined(separator: "<br/>"))</td><td>\((n.reasons + (n.silentCorruption.map { ["silent corruption: \($0.summary)"] } ?? [])).map(e).joined(separator: "<br/>"))</td></tr>")
        }
        body.append("</tbody></table>")
        body.append("<table class=\"latency\"><caption>Fleet latency, ms — every node's histogram added, so these are percentiles of all samples pooled</caption><thead><tr><th>what</th><th>count</th><th>nodes</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr></thead><tbody>")
        for r in fleet.latency {
            body.append("<tr><td>\(e(r.key.label))</td><td class=\"num\">\(r.count)</td><td class=\"num\">\(r.nodes)</td>"
                        + [r.p50Ms, r.p90Ms, r.p99Ms, r.p999Ms, r.maxMs].map { String(format: "<td class=\"num\">%.2f</td>", $0) }.joined() + "</tr>")
        }
        body.append("</tbody></table>")
        body.append("<table class=\"outliers\"><caption>Outliers: a node's p50 beyond \(String(format: "%g", fleet.outlierFactor))× the fleet's</caption><thead><tr><th>node</th><th>what</th><th>node p50</th><th>fleet p50</th><th>ratio</th></tr></thead><tbody>")
        for o in fleet.outliers {
            let key = HistogramKey(metric: o.metric, scenario: o.scenario, strategy: o.strategy, isolation: o.isolation, step: o.step)
            body.append("<tr class=\"fail\"><td>\(e(o.node))</td><td>\(e(key.label))</td>" + String(format: "<td class=\"num\">%.2f</td><td class=\"num\">%.2f</td><td class=\"num\">%.1f×</td></tr>", o.nodeP50Ms, o.fleetP50Ms, o.ratio))
        }
        if fleet.outliers.isEmpty { body.append("<tr><td colspan=\"5\">none</td></tr>") }
        body.append("</tbody></table></main><footer>poolfault report merge · fleet report schema \(e(fleet.schemaVersion))</footer>")
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1"/>
            <title>poolfault fleet: \(verdict)</title>
            <style>\(HTMLReport.css)</style></head>
            <body>
            \(body.joined(separator: "\n"))
            </body></html>

            """
    }

    static func e(_ text: String) -> String { MarkupText.escape(text) }
    static func a(_ text: String) -> String { MarkupText.escape(text, inAttribute: true) }
    static func t(_ text: String) -> String { MarkupText.escape(text, inAttribute: false) }
}
