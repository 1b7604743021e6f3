import FaultTest
import Foundation

/// `bench recovery --html`: per scenario × strategy the distribution of recovery latency as a
/// CDF, with p50/p95/p99 marked and the cold initialize of the same pool (the control) drawn
/// beside it. Self-contained like the run's HTML report, and in its style.
enum BenchRecoveryHTML {
    /// The percentiles marked are the table's (HdrHistogram), so the page and the terminal agree.
    static func render(rows: [BenchRecoveryCommand.Row], initializeP50: [String: Double], device: String, model: String,
                       trials: Int, cache: String) -> String {
        func e(_ text: String) -> String { MarkupText.escape(text) }
        let controls = initializeP50.sorted { $0.key < $1.key }.map { "\($0.key) isolation p50 \(String(format: "%.1f", $0.value)) ms" }
        var body = ["<header><h1>Recovery latency — \(e(model))</h1>",
                    "<p>\(e(device)) · \(trials) trial\(trials == 1 ? "" : "s") per row, each on a fresh pool · Mesa shader cache: \(e(cache))</p>",
                    "<p>Control: cold initialize of the same pool, \(e(controls.joined(separator: "; "))) (dashed line in every chart).</p></header><main>"]
        for row in rows {
            let sorted = row.samplesMs.sorted()
            let control = initializeP50[row.isolation] ?? 0
            body.append("<section><h2>\(e(row.scenario)) · \(e(row.strategy)) · \(e(row.isolation)) isolation</h2>")
            body.append("<p>p50 \(ms(row.p50Ms)) · p95 \(ms(row.p95Ms)) · p99 \(ms(row.p99Ms)) · max \(ms(row.maxMs)) · detection p50 \(ms(row.detectionP50Ms))"
                        + (row.failures > 0 ? " · ✗ \(row.failures) of \(row.trials) recoveries failed (not timed)" : " · ✓ every recovery succeeded")
                        + (row.claimedMs.map { " · the original tool claimed \(ms($0)) with nothing measured" } ?? "") + "</p>")
            body.append(sorted.isEmpty ? "<p class=\"note\">No successful recovery to plot.</p>"
                        : chart(sorted, marks: [("p50", 0.5, row.p50Ms), ("p95", 0.95, row.p95Ms), ("p99", 0.99, row.p99Ms)],
                                control: control, id: "\(row.scenario)-\(row.strategy)-\(row.isolation)"))
            body.append("</section>")
        }
        body.append("</main><footer>poolfault bench recovery · latencies are HdrHistogram percentiles of the measured recoveries</footer>")
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1"/>
            <title>poolfault bench recovery: \(e(model))</title><style>\(HTMLReport.css)</style></head>
            <body>
            \(body.joined(separator: "\n"))
            </body></html>

            """
    }

    static func ms(_ v: Double) -> String { String(format: "%.1f ms", v) }

    /// A CDF (step line) on a logarithmic axis: a 1 ms reconnect and a 400 ms cold start both
    /// stay legible on one chart.
    static func chart(_ sorted: [Double], marks: [(label: String, fraction: Double, ms: Double)], control: Double, id: String) -> String {
        let w = 720.0, h = 220.0, left = 50.0, bottom = 30.0, top = 14.0, right = 20.0
        let lo = log10(max(0.01, min(sorted.first ?? 1, control > 0 ? control : 1) / 2))
        let hi = log10(max(sorted.last ?? 1, control, 0.02) * 2)
        func x(_ v: Double) -> Double { left + (log10(max(v, 0.01)) - lo) / max(hi - lo, 1e-9) * (w - left - right) }
        func y(_ f: Double) -> Double { h - bottom - f * (h - bottom - top) }
        var path = "M\(f(x(sorted.first ?? 0))) \(f(y(0)))"
        for (i, v) in sorted.enumerated() {
            path += " H\(f(x(v))) V\(f(y(Double(i + 1) / Double(sorted.count))))"
        }
        var out = ["<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"cdf-\(MarkupText.escape(id))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" role=\"img\" aria-label=\"CDF of recovery latency\">"]
        for exponent in Int(lo.rounded(.up))...max(Int(lo.rounded(.up)), Int(hi.rounded(.down))) {
            let v = pow(10, Double(exponent))
            out.append("<line class=\"guide\" x1=\"\(f(x(v)))\" x2=\"\(f(x(v)))\" y1=\"\(f(y(0)))\" y2=\"\(f(y(1)))\"/><text class=\"axis\" x=\"\(f(x(v)))\" y=\"\(f(h - 10))\" text-anchor=\"middle\">\(v < 1 ? String(format: "%g", v) : String(format: "%.0f", v)) ms</text>")
        }
        for (fraction, label) in [(0.0, "0"), (0.5, "0.5"), (1.0, "1")] {
            out.append("<text class=\"axis\" x=\"\(f(left - 6))\" y=\"\(f(y(fraction) + 4))\" text-anchor=\"end\">\(label)</text>")
        }
        out.append("<path class=\"cdf\" d=\"\(path)\"><title>share of recoveries done by a latency</title></path>")
        for (n, (label, fraction, v)) in marks.enumerated() {
            out.append("<g><title>\(label) \(String(format: "%.1f", v)) ms</title><line class=\"pct\" x1=\"\(f(x(v)))\" x2=\"\(f(x(v)))\" y1=\"\(f(y(0)))\" y2=\"\(f(y(fraction)))\"/>"
                       + "<text x=\"\(f(x(v) + 3 + Double(n) * 26))\" y=\"\(f(y(0) - 6 - Double(n) * 14))\">\(label) \(String(format: "%.1f", v))</text></g>")
        }
        out.append("<g><title>cold initialize p50 \(String(format: "%.1f", control)) ms</title><line class=\"control\" x1=\"\(f(x(control)))\" x2=\"\(f(x(control)))\" y1=\"\(f(y(0)))\" y2=\"\(f(y(1)))\"/>"
                   + "<text x=\"\(f(x(control) - 3))\" y=\"\(f(y(1) + 12))\" text-anchor=\"end\">cold initialize p50</text></g>")
        out.append("</svg>")
        return out.joined(separator: "\n")
    }

    static func f(_ v: Double) -> String { String(format: "%.1f", v) }
}
