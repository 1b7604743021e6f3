import Foundation
import Testing

/// The node-check DaemonSet's verdict as a Kubernetes node condition: its init container's script,
/// taken from deploy/kubernetes/daemonset.yaml as Kubernetes runs it ($(POOLFAULT_NODE_NAME)
/// expanded), with poolfault and curl stood in for by stubs on PATH: each exit code becomes the
/// condition it promises, patched on the node's status with the pod's token; a failed patch is
/// said and the pod still goes on. And the RBAC is the least it needs: patch on nodes/status.
@Suite struct NodeConditionTests {
    static let root = CLIRunner.packageRoot
    static let python = (ProcessInfo.processInfo.environment["POOLFAULT_TOOLS"] ?? "/opt/poolfault-tools") + "/k8s-venv/bin/python"

    /// A value from the manifests, read with PyYAML (the k8s venv's): `expression` on `docs`.
    static func yaml(_ file: String, _ expression: String) throws -> String {
        let r = try CLIRunner.run(shell: "'\(python)' -c 'import json, os, sys, yaml; docs = list(yaml.safe_load_all(open(sys.argv[1]))); print(json.dumps(eval(os.environ[\"EXPRESSION\"])))' '\(root.path)/deploy/kubernetes/\(file)'",
                                  environment: ["EXPRESSION": expression])
        try #require(r.status == 0, "PyYAML from ci/install-kubernetes-validate's venv: \(r.stderr)")
        return r.stdout
    }

    struct Case: CustomStringConvertible, Sendable {
        let exit: Int, status: String, reason: String, curlFails: Bool
        var description: String { "poolfault exit \(exit)\(curlFails ? ", API refuses" : "") → \(status)" }
    }

    // Test that each verdict becomes its node condition, patched on the node's status with the pod's token.
    @Test(arguments: [Case(exit: 0, status: "True", reason: "PoolfaultPassed", curlFails: false),
                      Case(exit: 1, status: "False", reason: "PoolfaultFailed", curlFails: false),
                      Case(exit: 2, status: "Unknown", reason: "PoolfaultCouldNotRun", curlFails: false),
                      Case(exit: 0, status: "True", reason: "PoolfaultPassed", curlFails: true)])
    func theVerdictBecomesTheNodeCondition(_ c: Case) throws {
        let script = try JSONDecoder().decode(String.self, from: Data(try Self.yaml("daemonset.yaml",
            "[d for d in docs if d['kind'] == 'DaemonSet'][0]['spec']['template']['spec']['initContainers'][0]['command'][2]").utf8))
            .replacingOccurrences(of: "$(POOLFAULT_NODE_NAME)", with: "gpu-node-7")  // what Kubernetes expands
        let dir = Scratch.root.appendingPathComponent("poolfault-condition-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for sub in ["bin", "sa", "verdict"] { try FileManager.default.createDirectory(atPath: "\(dir)/\(sub)", withIntermediateDirectories: true) }
        try "pod-token".write(toFile: "\(dir)/sa/token", atomically: true, encoding: .utf8)
        try "a CA".write(toFile: "\(dir)/sa/ca.crt", atomically: true, encoding: .utf8)
        try "#!/bin/sh\nexit \(c.exit)\n".write(toFile: "\(dir)/bin/poolfault", atomically: true, encoding: .utf8)
        // curl: each argument on its own line, then the API's answer.
        try "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '\(dir)/curl.args'\n\(c.curlFails ? "echo 'curl: (22) 403' >&2; exit 22" : "exit 0")\n"
            .write(toFile: "\(dir)/bin/curl", atomically: true, encoding: .utf8)
        _ = try CLIRunner.run(shell: "chmod +x '\(dir)/bin/poolfault' '\(dir)/bin/curl'")
        let r = try CLIRunner.run(executableScript: script, environment: [
            "PATH": "\(dir)/bin:/usr/bin:/bin", "POOLFAULT_VERDICT_DIR": "\(dir)/verdict", "POOLFAULT_SERVICE_ACCOUNT_DIR": "\(dir)/sa",
            "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"])
        #expect(r.status == 0, "the init container always exits 0: \(r.stdout) \(r.stderr)")
        #expect(try String(contentsOfFile: "\(dir)/verdict/exit-code", encoding: .utf8) == "\(c.exit)\n")
        let args = try String(contentsOfFile: "\(dir)/curl.args", encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(args.contains("https://10.96.0.1:443/api/v1/nodes/gpu-node-7/status"), "\(args)")
        #expect(args.contains("PATCH") && args.contains("Authorization: Bearer pod-token") && args.contains("\(dir)/sa/ca.crt")
                && args.contains("Content-Type: application/strategic-merge-patch+json"), "\(args)")
        let body = try #require(args.firstIndex(of: "--data").map { args[$0 + 1] })
        let patch = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any], "not JSON: \(body)")
        let condition = try #require(((patch["status"] as? [String: Any])?["conditions"] as? [[String: Any]])?.first)
        #expect(condition["type"] as? String == "PoolfaultHealthy" && condition["status"] as? String == c.status
                && condition["reason"] as? String == c.reason, "\(condition)")
        #expect(condition["lastHeartbeatTime"] as? String != nil && condition["message"] as? String != nil)
        #expect(r.stdout.contains(c.curlFails ? "could not set the node condition" : "node condition PoolfaultHealthy=\(c.status)"), "\(r.stdout)")
    }

    // Test that the DaemonSet's service account may patch nodes/status and nothing else.
    @Test func theRBACIsTheLeastTheConditionNeeds() throws {
        let rules = try Self.yaml("node-health-rbac.yaml", "[d['rules'] for d in docs if d['kind'] == 'ClusterRole']")
        #expect(rules.trimmingCharacters(in: .whitespacesAndNewlines) == #"[[{"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]}]]"#, "\(rules)")
        let binding = try Self.yaml("node-health-rbac.yaml",
            "[(d['roleRef']['name'], d['subjects'][0]['name']) for d in docs if d['kind'] == 'ClusterRoleBinding']")
        #expect(binding.contains(#"["poolfault-node-health", "poolfault-node-health"]"#), "\(binding)")
        let account = try Self.yaml("daemonset.yaml", "[d['spec']['template']['spec'].get('serviceAccountName') for d in docs if d['kind'] == 'DaemonSet']")
        #expect(account.contains(#""poolfault-node-health""#), "\(account)")
    }
}
