import Foundation
import ResourcePool

/// One scenario as an inline SVG timeline: a row for the phases, a row per context (and one for
/// pool-wide steps) with its initialize steps, shard runs, weight uploads and recovery steps,
/// the fault marked by a line. Kinds differ by shape and label as well as colour (a legend
/// names them), and every box carries a <title> with its name, context and duration.
enum TimelineSVG {
    static let width = 1000.0, labelWidth = 150.0, rowHeight = 28.0, top = 34.0

    static func render(_ s: ScenarioResult, id: String, contexts: [String]) -> String {
        let phases = s.phases.filter { $0.result.start != nil }
        guard let begin = phases.first?.result.start, let last = phases.last else {
            return "<p class=\"note\">No timeline: this report has no phase start times (schema before 1.2).</p>"
        }
        let end = max((last.result.start ?? begin) + last.result.duration, begin + 0.001)
        let plot = width - labelWidth - 10
        func x(_ t: Double) -> Double { labelWidth + max(0, min(1, (t - begin) / (end - begin))) * plot }
        let used = Set((s.recovery?.steps ?? []).map(\.context) + s.spans.compactMap(\.context))
        var rows = ["phases"] + contexts
        if used.contains(where: { !contexts.contains($0) }) { rows.append("pool") }
        func row(_ context: String?) -> Int {
            guard let context, let i = rows.firstIndex(of: context) else { return rows.count - 1 }
            return i
        }
        func y(_ r: Int) -> Double { top + Double(r) * rowHeight }
        let height = y(rows.count) + 64
        var out = ["<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"\(MarkupText.escape(id))\" class=\"timeline\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"Timeline of \(MarkupText.escape(s.scenario))\">"]
        // Row labels and guides.
        for (i, name) in rows.enumerated() {
            out.append("<text class=\"row-label\" x=\"6\" y=\"\(f(y(i) + 18))\">\(MarkupText.escape(name))</text>")
            out.append("<line class=\"guide\" x1=\"\(f(labelWidth))\" x2=\"\(f(width - 10))\" y1=\"\(f(y(i) + rowHeight))\" y2=\"\(f(y(i) + rowHeight))\"/>")
        }
        // Time axis.
        for k in 0...5 {
            let t = begin + (end - begin) * Double(k) / 5
            out.append("<line class=\"tick\" x1=\"\(f(x(t)))\" x2=\"\(f(x(t)))\" y1=\"\(f(top - 4))\" y2=\"\(f(y(rows.count)))\"/>")
            let anchor = k == 0 ? "start" : k == 5 ? "end" : "middle"
            out.append("<text class=\"axis\" x=\"\(f(x(t)))\" y=\"\(f(y(rows.count) + 16))\" text-anchor=\"\(anchor)\">\(ReportFormat.milliseconds(t - begin))</text>")
        }
        func box(_ cls: String, _ r: Int, from start: Double, duration: Double, label: String, title: String, inset: Double = 3) {
            let x0 = x(start), w = max(1.5, x(start + duration) - x0)
            out.append("<g class=\"\(cls)\"><title>\(MarkupText.escape(title))</title><rect x=\"\(f(x0))\" y=\"\(f(y(r) + inset))\" width=\"\(f(w))\" height=\"\(f(rowHeight - 2 * inset))\" rx=\"2\"/>")
            if w > Double(label.count) * 6.5 + 6 {
                out.append("<text x=\"\(f(x0 + 3))\" y=\"\(f(y(r) + rowHeight / 2 + 4))\">\(MarkupText.escape(label))</text>")
            }
            out.append("</g>")
        }
        for phase in phases {
            let ok = phase.result.success
            box(ok ? "phase ok" : "phase fail", 0, from: phase.result.start ?? begin, duration: phase.result.duration,
                label: (ok ? "" : "✗ ") + phase.name.rawValue,
                title: "\(phase.name.rawValue) \(ok ? "passed" : "FAILED") · \(ReportFormat.milliseconds(phase.result.duration)) · \(phase.result.message)")
        }
        for span in s.spans {
            let cls = span.category == "shard_run" ? "run" : span.category == "upload" ? "upload" : "init"
            box(cls, row(span.context), from: span.start, duration: span.duration, label: span.name,
                title: "\(span.name) (\(span.category)) on \(span.context ?? "pool") · \(ReportFormat.milliseconds(span.duration))",
                inset: cls == "run" ? 9 : 5)
        }
        for step in s.recovery?.steps ?? [] {
            guard let start = step.start else { continue }
            box("step", row(step.context), from: start, duration: step.duration, label: step.name,
                title: "recovery step \(step.name) on \(step.context) · \(ReportFormat.milliseconds(step.duration))"
                    + (step.bytes.map { " · \(ReportFormat.bytes($0))" } ?? "") + (step.detail.map { " · \($0)" } ?? ""), inset: 2)
        }
        var lastLabel = -Double.infinity
        for event in s.events where event.kind == "corruption" {
            let r = row(event.context)
            out.append("<g class=\"corruption\"><title>\(MarkupText.escape("silent corruption caught at \(ReportFormat.milliseconds(event.t - begin)): \(event.detail)"))</title>"
                       + "<path d=\"M\(f(x(event.t))) \(f(y(r) + 1)) l5 5 l-5 5 l-5 -5 z\"/></g>")
        }
        for event in s.events where event.kind == "fault" || event.kind == "failover" {
            let xe = x(event.t)
            if event.kind == "fault" {
                // Faults struck together (multiple_failures) share one label; each keeps its line and tooltip.
                let label = xe - lastLabel > 260
                    ? "<text x=\"\(f(min(xe + 3, width - 260)))\" y=\"\(f(top - 18))\">⚡ fault: \(MarkupText.escape(String(event.detail.prefix(40))))</text>" : ""
                if !label.isEmpty { lastLabel = xe }
                out.append("<g class=\"fault\"><title>\(MarkupText.escape("fault at \(ReportFormat.milliseconds(event.t - begin)): \(event.detail)"))</title>"
                           + "<line x1=\"\(f(xe))\" x2=\"\(f(xe))\" y1=\"\(f(top - 14))\" y2=\"\(f(y(rows.count)))\"/>" + label + "</g>")
            } else {
                let r = row(event.context)
                out.append("<g class=\"failover\"><title>\(MarkupText.escape("failover: \(event.detail)"))</title>"
                           + "<path d=\"M\(f(xe)) \(f(y(r) + 2)) l5 8 h-10 z\"/></g>")
            }
        }
        // Legend: every kind named in words.
        let legend: [(String, String)] = [("phase ok", "phase"), ("phase fail", "failed phase (✗)"), ("init", "initialize step"),
                                          ("run", "shard run (thin)"), ("upload", "weight upload"), ("step", "recovery step (tall)"),
                                          ("fault", "fault (⚡ line)"), ("failover", "failover (▲)")]
            + (s.events.contains { $0.kind == "corruption" } ? [("corruption", "silent corruption caught (◆)")] : [])
        var lx = labelWidth
        var ly = y(rows.count) + 32
        for (cls, text) in legend {
            let itemWidth = 16 + Double(text.count) * 6.2 + 14
            if lx + itemWidth > width - 10 { lx = labelWidth; ly += 16 }
            out.append("<g class=\"\(cls) legend\"><rect x=\"\(f(lx))\" y=\"\(f(ly - 9))\" width=\"12\" height=\"10\"/><text x=\"\(f(lx + 16))\" y=\"\(f(ly))\">\(MarkupText.escape(text))</text></g>")
            lx += itemWidth
        }
        out.append("</svg>")
        return out.joined(separator: "\n")
    }

    static func f(_ v: Double) -> String { String(format: "%.1f", v) }
}
