import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

/// The views of a run people look at: the trace (Perfetto / chrome://tracing), the HTML report
/// (rendered by a real headless Chromium), and the GitHub job summary with `::error` lines.
@Suite(.serialized) struct ReportViewsCLITests {
    static let quick = ["--weights", TinyModel.path, "--seq-len", "8", "--color", "never"]

    /// One crash scenario with a trace, shared by the trace tests.
    nonisolated(unsafe) static let crashRun: (dir: String, trace: [String: Any], status: Int32, stderr: String) = {  // written once, then only read
        let dir = RunCLITests.tempDir("trace")
        let r = try? CLIRunner.run(quick + ["--scenario", "browser_crash", "--fault-target", "chrome", "--output-dir", dir,
                                            "--trace", dir + "/trace.json"])
        let data = (try? Data(contentsOf: URL(fileURLWithPath: dir + "/trace.json"))) ?? Data()
        let trace = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return (dir, trace, r?.status ?? -1, r?.stderr ?? "")
    }()

    /// The shared run's trace events; a failed run or an empty trace fails every test that reads them.
    static var events: [[String: Any]] {
        get throws {
            try #require(crashRun.status == 0, "the shared run failed: \(crashRun.stderr.suffix(500))")
            let events = crashRun.trace["traceEvents"] as? [[String: Any]] ?? []
            try #require(events.count > 20, "the shared run left no trace")
            return events
        }
    }

    static func track(_ e: [String: Any]) -> String { "\(e["pid"] as? Int ?? -1)/\(e["tid"] as? Int ?? -1)" }

    // Test that the trace parses and every event has name, ph, ts, pid and tid.
    @Test func theTraceParsesAndEveryEventIsComplete() throws {
        let events = try Self.events
        for e in events {
            #expect(e["name"] is String && e["ph"] is String && e["ts"] is NSNumber && e["pid"] is NSNumber && e["tid"] is NSNumber, "\(e)")
        }
        let names = events.filter { $0["ph"] as? String == "M" && $0["name"] as? String == "thread_name" }
            .compactMap { ($0["args"] as? [String: Any])?["name"] as? String }
        #expect(names.contains("context chrome") && names.contains("router"), "\(names)")
        #expect(events.contains { $0["ph"] as? String == "C" && $0["name"] as? String == "requests_in_flight" })
        #expect(events.contains { $0["ph"] as? String == "C" && $0["name"] as? String == "bytes_uploaded" })
    }

    // Test that complete events nest per track (disjoint or contained) and time never runs backwards.
    @Test func slicesNestPerTrackAndNeverRunBackwards() throws {
        let events = try Self.events
        let slices = events.filter { $0["ph"] as? String == "X" }
        #expect(slices.count > 10, "complete events to check")
        let byTrack = Dictionary(grouping: slices, by: Self.track)
        for (track, list) in byTrack {
            var open: [(start: Int64, end: Int64, name: String)] = []
            var last: Int64 = .min
            for e in list {
                let ts = (e["ts"] as? NSNumber)?.int64Value ?? 0, dur = (e["dur"] as? NSNumber)?.int64Value ?? -1
                #expect(dur >= 0, "\(e)")
                #expect(ts >= last, "track \(track): \(e["name"] ?? "") runs backwards")
                last = ts
                while let top = open.last, top.end <= ts { open.removeLast() }
                if let top = open.last {
                    #expect(ts + dur <= top.end, "track \(track): \(e["name"] ?? "") overlaps \(top.name) without nesting")
                }
                open.append((ts, ts + dur, e["name"] as? String ?? ""))
            }
        }
    }

    // Test that in a crash the fault, the failover and the recovery steps sit on the right tracks, in order.
    @Test func aCrashShowsFaultFailoverAndRecoveryInOrder() throws {
        let events = try Self.events
        let threads = events.filter { $0["name"] as? String == "thread_name" }
        func tid(_ label: String) -> String? {
            threads.first { ($0["args"] as? [String: Any])?["name"] as? String == label }.map(Self.track)
        }
        let chrome = try #require(tid("context chrome")), router = try #require(tid("router"))
        let fault = try #require(events.first { $0["cat"] as? String == "fault" })
        #expect(Self.track(fault) == chrome, "the fault on chrome's track")
        let failover = try #require(events.first { $0["cat"] as? String == "failover" })
        #expect(Self.track(failover) == router, "the failover on the router's track")
        let steps = events.filter { $0["cat"] as? String == "recovery" && Self.track($0) == chrome }
        let names = steps.compactMap { $0["name"] as? String }
        for step in ["device_creation", "pipeline_creation", "weight_upload", "first_dispatch"] {
            #expect(names.contains(step), "\(names)")
        }
        func ts(_ e: [String: Any]) -> Int64 { (e["ts"] as? NSNumber)?.int64Value ?? 0 }
        #expect(ts(fault) <= ts(failover))
        #expect(steps.allSatisfy { ts($0) >= ts(failover) }, "recovery after the failover")
        let order = ["device_creation", "pipeline_creation", "weight_upload", "first_dispatch"].compactMap { n in steps.first { $0["name"] as? String == n }.map(ts) }
        #expect(order == order.sorted(), "steps in order: \(order)")
    }

    /// The HTML report of the crash run.
    static var html: (path: String, text: String) {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: crashRun.dir)) ?? []
        let name = files.first { $0.hasPrefix("results_") && $0.hasSuffix(".html") } ?? "missing.html"
        let path = crashRun.dir + "/" + name
        return (path, (try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
    }

    // Test that the HTML report is self-contained, well formed and small.
    @Test func theHTMLReportIsSelfContained() throws {
        let (path, text) = Self.html
        #expect(!text.isEmpty, "no HTML report beside the JSON report: \(path)")
        #expect(text.utf8.count < 1 << 20)
        for match in text.matches(of: /(?:src|href)\s*=\s*"([^"]*)"/) {
            #expect(match.1.hasPrefix("#"), "external reference: \(match.0)")
        }
        #expect(!text.contains("@import") && !text.contains("url("), "no CSS loads")
        let parser = XMLParser(data: Data(text.utf8))
        #expect(parser.parse(), "well formed: \(parser.parserError.map { "\($0)" } ?? "")")
        #expect(text.contains("SCENARIO: browser_crash") && text.contains("id=\"timeline-browser_crash\""))
        #expect(text.contains("✓ SUCCESS"))
    }

    // Test that a real browser renders the timeline: headless Chromium screenshots it (the
    // `#timeline-…` link fills the window with it), and the picture holds the timeline's own
    // colours — the phase bars' fill, the shard runs, the recovery steps, the fault line — in
    // the light or the dark palette. A page that is not the timeline (the run's JSON report,
    // screenshotted the same way) holds none of them: the check fails on it.
    @Test func chromiumRendersTheTimeline() throws {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let browser = try #require(chromium, "Chromium is missing: ci/install-deps installs Debian's chromium")
        func colours(of url: String, into png: String) throws -> [String: Double] {
            let r = try CLIRunner.run(shell: "timeout 120 '\(browser)' --headless --no-sandbox --disable-gpu --hide-scrollbars "
                                      + "--window-size=1000,400 --screenshot='\(png)' '\(url)'")
            try #require(FileManager.default.fileExists(atPath: png), "\(r.stderr.suffix(500))")
            // Decode the PNG (Python's zlib; no imaging library needed) and count the palette's pixels.
            let counted = try CLIRunner.run(shell: "python3 -c \"$PNGCOLOURS\" '\(png)'", environment: ["PNGCOLOURS": Self.pngColours])
            try #require(counted.status == 0, "\(counted.stderr)")
            return try #require(try JSONSerialization.jsonObject(with: Data(counted.stdout.utf8)) as? [String: Double])
        }
        func isTimeline(_ c: [String: Double]) -> Bool {
            (c["phase"] ?? 0) > 0.02 && (c["run"] ?? 0) > 0 && (c["step"] ?? 0) > 0 && (c["fault"] ?? 0) > 0
        }
        let (path, _) = Self.html
        let rendered = try colours(of: "file://\(path)#timeline-browser_crash", into: Self.crashRun.dir + "/timeline.png")
        #expect(isTimeline(rendered), "shares of the timeline's colours: \(rendered)")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: Self.crashRun.dir)) ?? []
        let report = try #require(files.first { $0.hasPrefix("results_") && $0.hasSuffix(".json") }, "the crash run wrote no JSON report")
        let json = Self.crashRun.dir + "/" + report
        let other = try colours(of: "file://\(json)", into: Self.crashRun.dir + "/report-json.png")
        #expect(!isTimeline(other), "the JSON report's page passed for the timeline: \(other)")
    }

    /// Prints, as JSON, the share of pixels of each of the timeline's colours (light or dark).
    static let pngColours = """
        import sys, zlib, struct, json
        data = open(sys.argv[1], 'rb').read()
        assert data[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
        pos, idat, w = 8, b'', 0
        while pos < len(data):
            n, kind = struct.unpack('>I4s', data[pos:pos + 8]); body = data[pos + 8:pos + 8 + n]; pos += 12 + n
            if kind == b'IHDR': w, h, depth, ctype = struct.unpack('>IIBB', body[:10])
            if kind == b'IDAT': idat += body
        bpp = {2: 3, 6: 4}[ctype]; raw = zlib.decompress(idat); stride = w * bpp; rows = []; prev = bytearray(stride); i = 0
        for y in range(h):
            f = raw[i]; line = bytearray(raw[i + 1:i + 1 + stride]); i += 1 + stride
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0; b = prev[x]; c = prev[x - bpp] if x >= bpp else 0
                if f == 1: line[x] = (line[x] + a) & 255
                elif f == 2: line[x] = (line[x] + b) & 255
                elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
                elif f == 4:
                    p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            rows.append(bytes(line)); prev = line
        palette = {'phase': ('ddf4ff', '1f3a5f'), 'run': ('0969da', '4493f8'), 'step': ('8250df', 'a371f7'), 'fault': ('cf222e', 'f85149')}
        wanted = {bytes.fromhex(c): name for name, pair in palette.items() for c in pair}
        counts = dict.fromkeys(palette, 0)
        for r in rows:
            for x in range(0, stride, bpp):
                name = wanted.get(r[x:x + 3])
                if name: counts[name] += 1
        print(json.dumps({k: v / (w * h) for k, v in counts.items()}))
        """

    // Test that the GitHub job summary gets the table and failed scenarios get ::error lines.
    @Test func theGitHubSummaryAndErrorAnnotations() throws {
        let dir = RunCLITests.tempDir("summary")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let summary = dir + "/summary.md"
        let r = try CLIRunner.run(Self.quick + ["--scenario", "browser_crash", "--fault-target", "chrome", "--keep-crashing", "5",
                                                "--output-dir", dir],
                                  environment: ["GITHUB_STEP_SUMMARY": summary, "GITHUB_ACTIONS": "true"])
        #expect(r.status == 1, "\(r.stderr)")
        let text = try String(contentsOfFile: summary, encoding: .utf8)
        #expect(text.contains("| scenario | result | fault | recovery | re-uploaded | max abs error |"), "\(text)")
        #expect(text.contains("| browser_crash | ❌ fail |") && text.contains("#### Failed phases"), "\(text)")
        #expect(text.utf8.count < 1 << 20)
        #expect(r.stderr.contains("::error title=poolfault%3A browser_crash failed::recovery"), "\(r.stderr)")
    }

    // Test that bench recovery draws each latency distribution with its percentiles and the
    // control, self-contained, and traces every trial.
    @Test func benchRecoveryWritesItsDistributionsAndATrace() throws {
        let dir = RunCLITests.tempDir("bench-html")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let r = try CLIRunner.run(["bench", "recovery", "--weights", TinyModel.path, "--seq-len", "8", "--trials", "2", "--scenario", "browser_crash",
                                   "--recovery-strategy", "progressive", "--isolation", "process",
                                   "--html", dir + "/bench.html", "--trace", dir + "/bench.json"])
        #expect(r.status == 0, "\(r.stderr)")
        let html = try String(contentsOfFile: dir + "/bench.html", encoding: .utf8)
        #expect(html.contains("id=\"cdf-browser_crash-progressive-process\"") && html.contains("isolation p50"))
        for label in ["p50", "p95", "p99"] { #expect(html.contains(">\(label) "), "\(label) marked") }
        for match in html.matches(of: /(?:src|href)\s*=\s*"([^"]*)"/) { #expect(match.1.hasPrefix("#"), "\(match.0)") }
        #expect(XMLParser(data: Data(html.utf8)).parse())
        let trace = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/bench.json"))) as? [String: Any]
        let events = trace?["traceEvents"] as? [[String: Any]] ?? []
        #expect(events.filter { $0["cat"] as? String == "recovery" }.count >= 2 * 4, "two trials' recovery steps")
    }

    // Test that unwritable --trace and --html paths are refused before any work.
    @Test(arguments: ["--trace", "--html"])
    func anUnwritableViewIsRefusedBeforeTheWork(flag: String) throws {
        let dir = RunCLITests.tempDir("views")
        let r = try CLIRunner.run(Self.quick + ["--output-dir", dir, flag, "/proc/poolfault-nope/out"])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("/proc/poolfault-nope/out") && r.stdout.isEmpty, "\(r.stderr)")
        #expect(RunCLITests.reports(in: dir).isEmpty)
    }
}
