// A real Slurm cluster: ci/slurm-cluster starts munged, slurmctld and slurmd (one node, state
// under a temp directory); the project's own deploy/slurm/submit sends three quick runs on
// lavapipe as a job array plus the merge chained with afterany; the merged report must hold the
// three tasks with their verdicts and Slurm ids, and fleet percentiles equal to those of every
// trial's raw figures pooled. Then deploy/slurm/poolfault-healthcheck drains the node on a
// failing run and re-admits it after a clean one (and never resumes a node drained for another
// reason). Exactly the daemons started are stopped, by pid. Needs root and Debian's slurmctld,
// slurmd, slurm-client and munge (ci/install-slurm, run by ci/install-deps): without them the
// test fails and says so in the log; it never passes silently.

import Foundation
import Testing

@Suite(.serialized) struct SlurmFleetTests {
    static let root = CLIRunner.packageRoot

    /// Starts the cluster; returns its SLURM_CONF, or records loudly why it could not.
    static func startCluster(_ state: URL) throws -> String? {
        let start = try CLIRunner.run(shell: "'\(root.path)/ci/slurm-cluster' start '\(state.path)' --timeout 60")
        guard start.status == 0, let conf = start.stdout.split(separator: "\n").compactMap({ line -> String? in
            guard line.hasPrefix("export SLURM_CONF=") else { return nil }
            return String(line.dropFirst("export SLURM_CONF=".count))
        }).first else {
            let message = "SLURM TEST: the Slurm daemons could not start (ci/slurm-cluster exit \(start.status)); is Slurm installed (ci/install-slurm) and are we root?\n\(start.stderr)"
            FileHandle.standardError.write(Data("\n*** \(message)\n".utf8))
            Issue.record(Comment(rawValue: message))
            return nil
        }
        return conf
    }

    /// Stops the cluster and proves that none of the pids it recorded is alive.
    static func stopCluster(_ state: URL) throws {
        let recorded = (try? String(contentsOf: state.appendingPathComponent("pids"), encoding: .utf8)) ?? ""
        let pids = recorded.split(separator: "\n").compactMap { $0.split(separator: " ").dropFirst().first.flatMap { Int32($0) } }
        let stop = try CLIRunner.run(shell: "'\(root.path)/ci/slurm-cluster' stop '\(state.path)'")
        #expect(stop.status == 0, "ci/slurm-cluster stop: \(stop.stderr)")
        #expect(pids.count == 3, "expected munged, slurmctld and slurmd pids, got \(recorded)")
        for pid in pids { #expect(kill(pid, 0) != 0, "daemon pid \(pid) still alive after stop") }
    }

    @Test func arrayOfQuickRunsThenTheChainedMergeOnARealCluster() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("poolfault-slurm-\(UUID().uuidString)")  // not under Scratch: munge's socket path must stay under 108 bytes; removed below
        let state = base.appendingPathComponent("cluster"), reports = base.appendingPathComponent("reports")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: base) }
        guard let conf = try Self.startCluster(state) else { return }
        defer { try? Self.stopCluster(state) }
        let env: [String: String?] = ["SLURM_CONF": conf]

        // The project's own submit script: 3 array tasks (sharing the one node: --no-exclusive)
        // on lavapipe (--no-require-gpu), the merge after them.
        let submit = try CLIRunner.run(shell: "'\(Self.root.path)/deploy/slurm/submit' --array 3 --no-require-gpu --no-exclusive"
                                       + " --reports '\(reports.path)' --poolfault '\(CLIRunner.binary.path)' -- --time=00:15:00",
                                       environment: env)
        try #require(submit.status == 0, "submit: \(submit.stdout)\(submit.stderr)")
        let ids = Dictionary(uniqueKeysWithValues: (submit.stdout.split(separator: "\n").last ?? "").split(separator: " ").compactMap { pair -> (String, String)? in
            let kv = pair.split(separator: "=", maxSplits: 1)
            return kv.count == 2 ? (String(kv[0]), String(kv[1])) : nil
        })
        let validate = try #require(ids["validate"]), merge = try #require(ids["merge"]), fleetPath = try #require(ids["fleet"])

        // Wait, bounded, for the merge job to leave the queue (it ends the chain).
        let deadline = ContinuousClock.now + .seconds(420)
        var finished = false
        while ContinuousClock.now < deadline {
            let queue = try CLIRunner.run(shell: "squeue -h -o '%i %T' -j \(validate),\(merge) 2>/dev/null", environment: env)
            if queue.status == 0 && queue.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { finished = true; break }
            Thread.sleep(forTimeInterval: 1)
        }
        let jobcomp = (try? String(contentsOf: state.appendingPathComponent("jobcomp.txt"), encoding: .utf8)) ?? ""
        try #require(finished, "the jobs did not finish within 420 s; jobcomp:\n\(jobcomp)")
        // Slurm's own record: 3 validate elements and the merge, all COMPLETED with exit 0.
        let lines = jobcomp.split(separator: "\n")
        let mergeLine = lines.first { $0.contains("JobId=\(merge) ") }
        #expect(mergeLine?.contains("JobState=COMPLETED") == true && mergeLine?.contains("ExitCode=0:0") == true, "merge job: \(mergeLine ?? "absent")")
        #expect(lines.filter { $0.contains("Name=poolfault-validate") && $0.contains("ExitCode=0:0") }.count == 3, "jobcomp:\n\(jobcomp)")

        let fleet = try FleetChecks.load(URL(fileURLWithPath: fleetPath))
        let summary = try #require(fleet["summary"] as? [String: Any])
        #expect(summary["pass"] as? Bool == true && summary["reports"] as? Int == 3 && summary["nodes"] as? Int == 1)
        let node = try #require((fleet["nodes"] as? [[String: Any]])?.first)
        let entries = node["reports"] as? [[String: Any]] ?? []
        #expect(entries.count == 3 && entries.allSatisfy { $0["pass"] as? Bool == true })
        let schedulers = entries.compactMap { $0["scheduler"] as? [String: Any] }
        #expect(schedulers.count == 3 && schedulers.allSatisfy { $0["kind"] as? String == "slurm" && $0["array_job_id"] as? String == validate })
        #expect(Set(schedulers.compactMap { $0["array_task_id"] as? String }) == ["0", "1", "2"])
        #expect(node["software_vulkan"] as? Bool == true)
        // Exact fleet percentiles: the raw figures of the three runs, pooled.
        let runFiles = try FileManager.default.subpathsOfDirectory(atPath: reports.appendingPathComponent(validate).path)
            .filter { ($0 as NSString).lastPathComponent.hasPrefix("results_") && $0.hasSuffix(".json") }
        #expect(runFiles.count == 3)
        let runs = try runFiles.map { try FleetChecks.load(reports.appendingPathComponent(validate).appendingPathComponent($0)) }
        FleetChecks.expectExactPercentiles(fleet: fleet, runReports: runs)
        // The JUnit and HTML views exist beside it.
        for view in ["fleet.xml", "fleet.html"] {
            #expect(FileManager.default.fileExists(atPath: (fleetPath as NSString).deletingLastPathComponent + "/" + view))
        }

        try healthCheckDrainsAndReadmits(state: state, conf: conf, scratch: base)
    }

    /// deploy/slurm/poolfault-healthcheck against the live slurmctld.
    func healthCheckDrainsAndReadmits(state: URL, conf: String, scratch: URL) throws {
        let env: [String: String?] = ["SLURM_CONF": conf]
        let node = try CLIRunner.run(shell: "sinfo -h -o %N", environment: env).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let textfile = scratch.appendingPathComponent("textfiles/poolfault.prom").path
        func check(requireGPU: Bool) throws -> CLIRunner.Result {
            try CLIRunner.run(shell: "'\(Self.root.path)/deploy/slurm/poolfault-healthcheck' quick", environment: [
                "SLURM_CONF": conf, "POOLFAULT": CLIRunner.binary.path, "POOLFAULT_REQUIRE_GPU": requireGPU ? "1" : "0",
                "POOLFAULT_HEALTHCHECK_DIR": scratch.appendingPathComponent("hc").path, "POOLFAULT_SLURM_NODE": node,
                "POOLFAULT_HEALTHCHECK_CONF": "/nonexistent", "POOLFAULT_HEALTHCHECK_DETACH": "0",
                "POOLFAULT_PROMETHEUS_TEXTFILE": textfile])
        }
        func reason() throws -> String {
            try CLIRunner.run(shell: "sinfo -h -R -o '%E'", environment: env).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // A node without a GPU fails --require-gpu for real: drained, with poolfault's reason.
        let failing = try check(requireGPU: true)
        #expect(failing.status == 1, "healthcheck on lavapipe with --require-gpu: \(failing.stdout)\(failing.stderr)")
        let drained = try reason()
        #expect(drained.hasPrefix("poolfault quick"), "drain reason: \(drained)")
        // A clean run re-admits it.
        let passing = try check(requireGPU: false)
        #expect(passing.status == 0, "\(passing.stdout)\(passing.stderr)")
        let after = try reason()
        #expect(after.isEmpty, "still drained: \(after)")
        // The verdict also reaches node_exporter's textfile directory, for the fleet's Prometheus.
        let metrics = (try? String(contentsOfFile: textfile, encoding: .utf8)) ?? ""
        #expect(metrics.split(separator: "\n").contains { $0.hasPrefix("poolfault_run_success{") && $0.hasSuffix(" 1.0") }, "\(metrics.prefix(500))")
        // A node an administrator drained stays drained, with the administrator's reason.
        _ = try CLIRunner.run(shell: "scontrol update NodeName=\(node) State=DRAIN Reason='disk replaced'", environment: env)
        _ = try check(requireGPU: false)
        let admin = try reason()
        #expect(admin == "disk replaced")
        _ = try CLIRunner.run(shell: "scontrol update NodeName=\(node) State=RESUME", environment: env)
    }
}
