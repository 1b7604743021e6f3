import Foundation
import VulkanCompute

/// Which machine a report came from, and which scheduler job ran it: what a fleet merge groups
/// reports by and names failed nodes with. Collected by the report's command at run time.
public struct HostIdentity: Codable, Sendable, Equatable {
    public var hostname: String
    /// `uname -srm`: "Linux 6.1.0-18-amd64 x86_64".
    public var kernel: String
    /// /etc/os-release's PRETTY_NAME.
    public var os: String?
    public var cpu: String?
    public var cores: Int
    /// Every Vulkan physical device the loader showed, with its driver version.
    public var gpus: [GPUIdentity]
    /// True when the run's webgpu contexts computed on a software driver (lavapipe): such a node
    /// proved nothing about its GPUs.
    public var softwareVulkan: Bool
    public var scheduler: SchedulerIdentity?

    /// The name a fleet knows the node by: the scheduler's node name, else the hostname.
    public var node: String { scheduler?.node ?? hostname }

    public init(hostname: String, kernel: String, os: String?, cpu: String?, cores: Int, gpus: [GPUIdentity],
                softwareVulkan: Bool, scheduler: SchedulerIdentity?) {
        self.hostname = hostname; self.kernel = kernel; self.os = os; self.cpu = cpu; self.cores = cores
        self.gpus = gpus; self.softwareVulkan = softwareVulkan; self.scheduler = scheduler
    }

    /// This machine, now. `devices`: the physical devices the loader lists; `usedSoftware`:
    /// whether the run computed on a software driver.
    public static func current(devices: [PhysicalDeviceInfo], usedSoftware: Bool,
                               environment: [String: String] = ProcessInfo.processInfo.environment) -> HostIdentity {
        var u = utsname()
        uname(&u)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return HostIdentity(hostname: field(u.nodename), kernel: "\(field(u.sysname)) \(field(u.release)) \(field(u.machine))",
                            os: osRelease(), cpu: cpuModel(), cores: ProcessInfo.processInfo.activeProcessorCount,
                            gpus: devices.map(GPUIdentity.init), softwareVulkan: usedSoftware,
                            scheduler: SchedulerIdentity(environment: environment))
    }

    static func osRelease() -> String? {
        guard let text = try? String(contentsOfFile: "/etc/os-release", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("PRETTY_NAME=") {
            return String(line.dropFirst("PRETTY_NAME=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return nil
    }

    static func cpuModel() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }
}

/// A Vulkan physical device as a fleet report needs it.
public struct GPUIdentity: Codable, Sendable, Equatable {
    public var index: Int
    public var name: String
    /// "discrete", "integrated", "cpu" (software), …
    public var type: String
    /// The driver and its version: "NVIDIA 550.54.14", "llvmpipe Mesa 22.3.6".
    public var driver: String
    public var apiVersion: String
    public var uuid: String
    public var pciBusID: String?
    public var software: Bool
    /// Where another device shares the UUID (identical GPUs, one driver listed twice): what tells
    /// this one apart (`PhysicalDeviceInfo.identity`); absent otherwise.
    public var identity: String?

    // "pciBusId": what .convertFromSnakeCase makes of "pci_bus_id", so the key round-trips.
    private enum CodingKeys: String, CodingKey { case index, name, type, driver, apiVersion, uuid, pciBusID = "pciBusId", software, identity }

    init(_ d: PhysicalDeviceInfo) {
        index = d.index; name = d.name; type = d.type.rawValue; driver = "\(d.driverName) \(d.driverInfo)"
        apiVersion = d.apiVersion; uuid = d.deviceUUID; pciBusID = d.pciBusID; software = d.isSoftware
        identity = d.twinNote == nil ? nil : d.identity
    }
}

/// The batch scheduler's identifiers, read from the variables it sets: Slurm's own, or in a
/// Kubernetes pod the downward-API variables deploy/kubernetes defines (POOLFAULT_POD_NAME,
/// POOLFAULT_POD_NAMESPACE, POOLFAULT_NODE_NAME) and an Indexed Job's JOB_COMPLETION_INDEX.
public struct SchedulerIdentity: Codable, Sendable, Equatable {
    /// "slurm" or "kubernetes".
    public var kind: String
    /// Slurm: SLURMD_NODENAME; Kubernetes: the pod's node (spec.nodeName).
    public var node: String?
    public var jobID: String?
    public var arrayJobID: String?
    public var arrayTaskID: String?
    public var stepID: String?
    public var cluster: String?
    public var pod: String?
    public var namespace: String?
    public var completionIndex: String?

    // The *Id spellings: what .convertFromSnakeCase makes of "job_id", so the keys round-trip.
    private enum CodingKeys: String, CodingKey {
        case kind, node, jobID = "jobId", arrayJobID = "arrayJobId", arrayTaskID = "arrayTaskId", stepID = "stepId", cluster, pod, namespace,
             completionIndex
    }

    public init?(environment env: [String: String]) {
        func value(_ name: String) -> String? { env[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let job = value("SLURM_JOB_ID") {
            kind = "slurm"; jobID = job
            node = value("SLURMD_NODENAME"); arrayJobID = value("SLURM_ARRAY_JOB_ID"); arrayTaskID = value("SLURM_ARRAY_TASK_ID")
            stepID = value("SLURM_STEP_ID"); cluster = value("SLURM_CLUSTER_NAME")
        } else if let pod = value("POOLFAULT_POD_NAME") ?? (value("KUBERNETES_SERVICE_HOST") != nil ? value("HOSTNAME") : nil) {
            kind = "kubernetes"; self.pod = pod
            node = value("POOLFAULT_NODE_NAME"); namespace = value("POOLFAULT_POD_NAMESPACE")
            completionIndex = value("JOB_COMPLETION_INDEX")
        } else {
            return nil
        }
    }

    /// "slurm job 1234_2", "kubernetes pod poolfault-validate-3-abcde" for tables.
    public var label: String {
        if kind == "slurm" {
            if let a = arrayJobID, let t = arrayTaskID { return "slurm job \(a)_\(t)" }
            return "slurm job \(jobID ?? "?")" + (stepID.map { ".\($0)" } ?? "")
        }
        return "kubernetes pod \(namespace.map { "\($0)/" } ?? "")\(pod ?? "?")"
    }
}
