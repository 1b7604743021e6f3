// deploy/kubernetes passes `kubernetes-validate --strict` (the Kubernetes API schemas, offline)
// and the rules no schema holds (ci/check-manifests): and the check is not vacuous — each
// deliberately broken copy of the Indexed Job fails, naming what is wrong. Needs
// ci/install-kubernetes-validate (run by ci/install-deps); without it the tests fail and say so.

import Foundation
import Testing

@Suite struct KubernetesManifestTests {
    static let root = CLIRunner.packageRoot
    static let check = root.appendingPathComponent("ci/check-manifests").path

    static func run(_ files: [String] = []) throws -> CLIRunner.Result {
        try CLIRunner.run(shell: ([check] + files).map { "'\($0)'" }.joined(separator: " ") + " 2>&1")
    }

    @Test func theManifestsPassStrictValidation() throws {
        let result = try Self.run()
        if result.status == 2 { Issue.record("kubernetes-validate is not installed: run ci/install-kubernetes-validate (ci/install-deps does). \(result.stdout)") }
        #expect(result.status == 0, "\(result.stdout)")
        let manifests = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("deploy/kubernetes").path)
        #expect(Set(manifests.filter { $0.hasSuffix(".yaml") }).isSuperset(of: ["job-indexed.yaml", "daemonset.yaml", "merge-job.yaml", "reports-pvc.yaml"]))
    }

    /// (what to change in job-indexed.yaml, what the failure must say)
    static let breakages: [(String, String, String)] = [
        ("completionMode: Indexed", "completionMod: Indexed", "completionMod"),
        ("  completions: 4", "  # completions removed", "completions"),
        ("              nvidia.com/gpu: 1     # must equal the request", "", "nvidia.com/gpu"),
        ("            - --require-gpu\n", "", "--require-gpu"),
        ("restartPolicy: Never", "restartPolicy: Nevr", "Nevr"),
        ("fieldPath: spec.nodeName", "fieldPath: spec.nodename", "spec.nodename"),
        ("topologyKey: kubernetes.io/hostname", "topologyKey: topology.kubernetes.io/zone", "topologyKey"),
    ]

    @Test(arguments: breakages.indices)
    func aBrokenIndexedJobFailsNamingTheProblem(index: Int) throws {
        let (from, to, named) = Self.breakages[index]
        let original = try String(contentsOf: Self.root.appendingPathComponent("deploy/kubernetes/job-indexed.yaml"), encoding: .utf8)
        try #require(original.contains(from), "job-indexed.yaml no longer contains \(from)")
        let dir = Scratch.root.appendingPathComponent("poolfault-k8s-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let broken = dir.appendingPathComponent("job-indexed.yaml")
        try original.replacingOccurrences(of: from, with: to).write(to: broken, atomically: true, encoding: .utf8)
        let pvc = Self.root.appendingPathComponent("deploy/kubernetes/reports-pvc.yaml").path
        let result = try Self.run([broken.path, pvc])
        if result.status == 2 { Issue.record("kubernetes-validate is not installed: run ci/install-kubernetes-validate") }
        #expect(result.status == 1, "broken copy passed: \(from) → \(to)\n\(result.stdout)")
        #expect(result.stdout.contains(named), "the failure does not name \(named):\n\(result.stdout)")
    }
}
