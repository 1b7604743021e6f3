import Foundation
import Testing

/// deploy/grafana/poolfault.json, checked without a Grafana (none is packaged for Debian 12): a
/// dashboard Grafana imports (panels with unique ids inside the 24-column grid, not overlapping;
/// every panel and query on the one Prometheus data-source variable), whose queries use only
/// metrics poolfault writes. That each query returns data is checked against a real Prometheus
/// (PrometheusCLITests).
@Suite struct GrafanaDashboardTests {
    static let path = CLIRunner.packageRoot.appendingPathComponent("deploy/grafana/poolfault.json").path

    static func dashboard() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    /// Every panel's queries: (panel title, PromQL).
    static func queries() throws -> [(String, String)] {
        try (dashboard()["panels"] as? [[String: Any]] ?? []).flatMap { panel in
            (panel["targets"] as? [[String: Any]] ?? []).compactMap { t in (t["expr"] as? String).map { (panel["title"] as? String ?? "?", $0) } }
        }
    }

    // Test that the dashboard is one Grafana imports as it is, laid out on its grid.
    @Test func theDashboardIsWellFormed() throws {
        let d = try Self.dashboard()
        #expect(d["uid"] as? String == "poolfault" && (d["schemaVersion"] as? Int ?? 0) >= 36)
        let variables = (d["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
        #expect(variables.contains { $0["name"] as? String == "datasource" && $0["type"] as? String == "datasource" && $0["query"] as? String == "prometheus" })
        let panels = d["panels"] as? [[String: Any]] ?? []
        #expect(panels.count >= 6)
        #expect(Set(panels.compactMap { $0["id"] as? Int }).count == panels.count, "panel ids must be unique")
        var cells: Set<[Int]> = []
        for p in panels {
            let title = p["title"] as? String ?? "?"
            #expect((p["datasource"] as? [String: Any])?["uid"] as? String == "${datasource}", "\(title): not on the data-source variable")
            let g = p["gridPos"] as? [String: Int] ?? [:]
            let (x, y, w, h) = (g["x"] ?? -1, g["y"] ?? -1, g["w"] ?? 0, g["h"] ?? 0)
            #expect(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 24, "\(title): gridPos \(g)")
            for cx in x..<max(x, x + w) { for cy in y..<max(y, y + h) { #expect(cells.insert([cx, cy]).inserted, "\(title) overlaps another panel at \(cx),\(cy)") } }
            let targets = p["targets"] as? [[String: Any]] ?? []
            #expect(!targets.isEmpty && targets.allSatisfy { ($0["refId"] as? String) != nil && !(($0["expr"] as? String) ?? "").isEmpty }, "\(title)")
        }
    }

    // Test that every metric a query names is one poolfault writes.
    @Test func everyQueryNamesAMetricPoolfaultWrites() throws {
        let sources = try ["Sources/FaultTest/Report/PrometheusReport.swift", "Sources/FaultTest/Soak/SoakMetrics.swift",
                           "Sources/poolfault/Support/BenchRecoveryMetrics.swift"]
            .map { try String(contentsOf: CLIRunner.packageRoot.appendingPathComponent($0), encoding: .utf8) }.joined()
        let pattern = try NSRegularExpression(pattern: "poolfault_[a-z0-9_]+")
        for (panel, expression) in try Self.queries() {
            let names = pattern.matches(in: expression, range: NSRange(expression.startIndex..., in: expression))
                .map { String(expression[Range($0.range, in: expression)!]) }
            #expect(!names.isEmpty, "\(panel): \(expression) names no poolfault metric")
            for name in names {
                let family = ["_bucket", "_sum", "_count"].reduce(name) { $0.hasSuffix($1) ? String($0.dropLast($1.count)) : $0 }
                #expect(sources.contains("\"\(family)\""), "\(panel): \(name) is not a metric poolfault writes")
            }
        }
    }
}
