import Foundation
import Testing

/// A real node_exporter (textfile collector only) and a real Prometheus scraping it every second,
/// each on a free port of 127.0.0.1, in a directory of their own; `stop` ends exactly the pids
/// started. What an operator's node runs, in miniature (ci/install-prometheus installs both).
final class PrometheusStack {
    let directory: String
    let textfiles: String
    let prometheusPort: Int
    private var daemons: [Process] = []

    static var available: Bool {
        ["/usr/bin/prometheus", "/usr/bin/prometheus-node-exporter", "/usr/bin/promtool"].allSatisfy(FileManager.default.isExecutableFile)
    }

    /// A port nothing listens on now (the kernel's choice for a socket bound to port 0).
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Starts node_exporter over `textfiles` (where *.prom files go) and Prometheus scraping it
    /// (job poolfault-node) and `live` ("HOST:PORT" of an exporter such as a soak's endpoint,
    /// job poolfault-live).
    init(live: String? = nil) throws {
        directory = Scratch.root.appendingPathComponent("poolfault-prometheus-\(UUID().uuidString)").path
        textfiles = directory + "/textfiles"
        try FileManager.default.createDirectory(atPath: textfiles, withIntermediateDirectories: true)
        let exporterPort = Self.freePort()
        prometheusPort = Self.freePort()
        try start("/usr/bin/prometheus-node-exporter", ["--collector.disable-defaults", "--collector.textfile",
                                                         "--collector.textfile.directory=\(textfiles)",
                                                         "--web.listen-address=127.0.0.1:\(exporterPort)"], log: "node_exporter.log")
        let config = """
            global:
              scrape_interval: 1s
            scrape_configs:
              - job_name: poolfault-node
                static_configs:
                  - targets: ["127.0.0.1:\(exporterPort)"]
            """ + (live.map { """

              - job_name: poolfault-live
                static_configs:
                  - targets: ["\($0)"]
            """ } ?? "")
        try config.write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
        try start("/usr/bin/prometheus", ["--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/data",
                                          "--web.listen-address=127.0.0.1:\(prometheusPort)"], log: "prometheus.log")
    }

    private func start(_ path: String, _ arguments: [String], log: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        FileManager.default.createFile(atPath: directory + "/" + log, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: directory + "/" + log)
        process.standardError = FileHandle(forWritingAtPath: directory + "/" + log)
        try process.run()
        daemons.append(process)
    }

    var pids: [Int32] { daemons.map(\.processIdentifier) }

    /// The daemons' logs, for a failure's message.
    var logs: String {
        ["node_exporter.log", "prometheus.log"].map { name in
            "\(name): " + ((try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? "").suffix(1500)
        }.joined(separator: "\n")
    }

    /// An instant query's samples: (labels, value).
    func query(_ promql: String) throws -> [(labels: [String: String], value: Double)] {
        let r = try CLIRunner.run(shell: "curl -s --max-time 5 --get --data-urlencode \"query=$Q\" http://127.0.0.1:\(prometheusPort)/api/v1/query",
                                  environment: ["Q": promql])
        guard r.status == 0, let object = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
              let data = object["data"] as? [String: Any], let result = data["result"] as? [[String: Any]] else { return [] }
        return result.compactMap { sample in
            guard let value = sample["value"] as? [Any], value.count == 2, let text = value[1] as? String, let number = Double(text) else { return nil }
            return (sample["metric"] as? [String: String] ?? [:], number)
        }
    }

    /// Polls `promql` until it returns samples (Prometheus has scraped them), within `seconds`:
    /// the bound on waiting for two outside daemons, not a verdict on poolfault's speed.
    func awaitSamples(_ promql: String, within seconds: Double = 90) throws -> [(labels: [String: String], value: Double)] {
        let until = Date().addingTimeInterval(seconds)
        while Date() < until {
            let samples = try query(promql)
            if !samples.isEmpty { return samples }
            usleep(250_000)  // waiting for the next scrape; nothing stands in for work here
        }
        return []
    }

    /// Ends exactly the daemons started (SIGTERM, then waits) and removes their directory.
    func stop() {
        for process in daemons where process.isRunning { process.terminate() }
        for process in daemons { process.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
