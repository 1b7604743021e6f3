import FaultTest
import Foundation

/// `bench corruption --html`: per detector and magnitude, the share of corruptions caught (of all,
/// and of those that changed the output), and each detector's detection latency as a CDF.
/// Self-contained, in the run report's style.
enum BenchCorruptionHTML {
    static func render(_ r: BenchCorruptionCommand.Report) -> String {
        func e(_ text: String) -> String { MarkupText.escape(text) }
        var body = ["<header><h1>Silent-corruption detection — \(e(r.model))</h1>",
                    "<p>\(e(r.device)) · \(r.trials) seeded corruptions (\(e(r.magnitudes.joined(separator: ", ")))), \(r.clean.runs) clean runs · "
                    + (r.verdict.pass ? "✓ every target met" : "✗ " + e(r.verdict.reasons.joined(separator: "; "))) + "</p></header><main>"]
        body.append("<section><h2>Coverage</h2>")
        body.append(coverageChart(r))
        body.append("<table><tr><th>detector</th><th>caught (all)</th><th>caught (changed the output)</th><th>latency p50 / p99</th><th>false positives</th></tr>")
        for c in r.detectors {
            body.append("<tr><td>\(e(c.detector))</td><td>\(c.detected)/\(c.corruptions)</td><td>"
                        + (c.coverageChanged.map { String(format: "%d/%d (%.1f%%)", c.detectedOfChanged, c.changed, $0 * 100) } ?? "—")
                        + String(format: "</td><td>%.1f / %.1f ms</td><td>%d of %d</td></tr>", c.latencyP50Ms, c.latencyP99Ms, c.falsePositives, r.clean.runs))
        }
        body.append("</table></section><section><h2>Detection latency</h2>")
        for c in r.detectors {
            let samples = r.corruptions.filter { $0.caught[c.detector] == true }.compactMap { $0.latencyMs[c.detector] }.sorted()
            guard !samples.isEmpty else { continue }
            body.append("<h3>\(e(c.detector))</h3>")
            body.append(BenchRecoveryHTML.chart(samples, marks: [("p50", 0.5, c.latencyP50Ms), ("p99", 0.99, c.latencyP99Ms)], control: 0,
                                                id: "latency-\(c.detector)"))
        }
        body.append("</section></main><footer>poolfault bench corruption · the scrub's latency is its own duration (a scrub beginning at the injection); in service add the wait for the next scrub</footer>")
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1"/>
            <title>poolfault bench corruption: \(e(r.model))</title><style>\(HTMLReport.css)</style></head>
            <body>
            \(body.joined(separator: "\n"))
            </body></html>

            """
    }

    /// Horizontal bars: per detector, caught of all and caught of those that changed the output.
    static func coverageChart(_ r: BenchCorruptionCommand.Report) -> String {
        let w = 720.0, row = 26.0, left = 160.0, right = 60.0
        let h = Double(r.detectors.count) * 2 * row + 20
        var out = ["<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"coverage\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" role=\"img\" aria-label=\"coverage per detector\">"]
        for (i, c) in r.detectors.enumerated() {
            for (j, (label, value)) in [("all", c.coverageAll), ("changed", c.coverageChanged ?? 0)].enumerated() {
                let y = 10 + Double(2 * i + j) * row
                let width = max(0, min(1, value)) * (w - left - right)
                out.append("<text class=\"axis\" x=\"\(Int(left - 8))\" y=\"\(Int(y + row * 0.65))\" text-anchor=\"end\">\(MarkupText.escape(c.detector)) · \(label)</text>")
                out.append("<rect class=\"\(j == 0 ? "bar" : "bar changed")\" x=\"\(Int(left))\" y=\"\(Int(y + 3))\" width=\"\(String(format: "%.1f", width))\" height=\"\(Int(row - 8))\"/>")
                out.append("<text class=\"axis\" x=\"\(Int(left + width + 6))\" y=\"\(Int(y + row * 0.65))\">\(String(format: "%.1f%%", value * 100))</text>")
            }
        }
        out.append("</svg>")
        return out.joined()
    }
}
