import Foundation

/// Where a forward's GPU time goes: per-dispatch timestamps grouped by what the dispatch is,
/// with the layer number taken out ("encoder.layer.7.attention.self.query" → "attention.self.query"),
/// so twelve layers' GEMMs of one kind sum into one row.
struct DispatchBreakdown: Encodable {
    struct Row: Encodable {
        let kind: String
        let dispatches: Int
        let ms: Double
        let share: Double
    }

    let rows: [Row]
    let totalMs: Double

    /// `runs`: the per-dispatch GPU seconds of several forwards; each label's median is used.
    init(runs: [[(label: String, seconds: Double)]]) {
        var samples: [String: [Double]] = [:]
        for run in runs {
            for (i, d) in run.enumerated() { samples["\(i)\u{1}\(d.label)", default: []].append(d.seconds) }
        }
        var byKind: [String: (count: Int, seconds: Double)] = [:]
        for (key, values) in samples {
            let label = String(key.split(separator: "\u{1}", maxSplits: 1).last ?? "")
            byKind[Self.kind(of: label), default: (0, 0)].count += 1
            byKind[Self.kind(of: label), default: (0, 0)].seconds += median(values)
        }
        let total = byKind.values.reduce(0) { $0 + $1.seconds }
        totalMs = total * 1000
        rows = byKind.map { Row(kind: $0.key, dispatches: $0.value.count, ms: $0.value.seconds * 1000,
                                share: total > 0 ? $0.value.seconds / total : 0) }
            .sorted { $0.ms > $1.ms }
    }

    /// The label without its layer: the first "layer.N." (or "layerN.") and what precedes it go.
    static func kind(of label: String) -> String {
        let parts = label.split(separator: ".")
        if let i = parts.firstIndex(where: { $0 == "layer" }), i + 1 < parts.count, Int(parts[i + 1]) != nil {
            return parts[(i + 2)...].joined(separator: ".")
        }
        if let i = parts.firstIndex(where: { $0.hasPrefix("layer") && Int($0.dropFirst(5)) != nil }) {
            return parts[(i + 1)...].joined(separator: ".")
        }
        return label
    }

    func printed() -> String {
        var lines = [String(format: "GPU time by dispatch kind (median per dispatch, summed over layers): %.1f ms", totalMs)]
        for r in rows {
            lines.append(String(format: "  %@ %4d × · %8.2f ms · %5.1f%%",
                                r.kind.padding(toLength: 40, withPad: " ", startingAt: 0), r.dispatches, r.ms, r.share * 100))
        }
        return lines.joined(separator: "\n")
    }
}
