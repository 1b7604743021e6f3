// A realistic report built by hand: all four scenarios of a progressive run on lavapipe, one
// of them failed (connection_lost: the reconnect never succeeded, so recovery_inference did
// not run), with fault records (multiple_failures has parts), recoveries step by step,
// numerics against the CPU reference and pool events.

import Foundation
import FaultTest
// @testable: FaultRecord, RecoveryRecord and PoolEvent have no public initializer yet.
@testable import ResourcePool

enum ReportFixtures {
    static let attentionBytes = 9_455_616      // one BERT-base attention component, fp32
    static let shardBytes = 146_800_640        // 140 MiB

    static var testInfo: TestInfo {
        TestInfo(model: "bert-base-uncased", browsers: ["chrome", "firefox", "edge"], recoveryStrategy: "progressive",
                 timestamp: "20261124_234829", seed: 42,
                 devices: [
                    DeviceSummary(context: "chrome", backend: "webgpu", name: "llvmpipe (LLVM 15.0.6, 256 bits)",
                                  driver: "Mesa 22.3.6", type: "cpu", software: true,
                                  compute: "texel GEMM 33x16, 8 lanes, attention 4 queries/invocation"),
                    DeviceSummary(context: "firefox", backend: "webgpu", name: "llvmpipe (LLVM 15.0.6, 256 bits)",
                                  driver: "Mesa 22.3.6", type: "cpu", software: true,
                                  compute: "texel GEMM 33x16, 8 lanes, attention 4 queries/invocation"),
                    DeviceSummary(context: "edge", backend: "webnn", name: "CPU (oneDNN)",
                                  driver: "OpenBLAS 0.3.21", type: "host", software: true,
                                  compute: "the CPU reference forward (oneDNN matmul)"),
                 ],
                 toolVersion: "0.4.0", shardType: "layer",
                 shards: ["embeddings, layer0-3", "layer4-7", "layer8-11, pooler"], layers: 12, sequenceLength: 128,
                 weights: "seeded (seed 42)", contextMode: "device", validation: true, shaderCache: "warm",
                 lavapipeVectorWidth: "Mesa's default (256 bits where AVX2, less without)", openblas: "2 threads, workers spin 2^4 cycles")
    }

    static let planned = Placement(contexts: ["chrome", "firefox", "edge"])

    static func phases(_ durations: [Double], failing: PhaseName? = nil, stopAfterFailure: Bool = false) -> [Phase] {
        let messages: [PhaseName: (String, String)] = [
            .initialize: ("Initialization succeeded", "Initialization failed"),
            .initialInference: ("Initial inference successful", "Initial inference failed"),
            .faultInjection: ("Fault injection success", "Fault injection failed"),
            .faultInference: ("Inference with fault succeeded (fault tolerance working)", "Inference with fault failed"),
            .recovery: ("Recovery succeeded", "Recovery failed"),
            .recoveryInference: ("Post-recovery inference successful", "Post-recovery inference failed"),
        ]
        var result: [Phase] = []
        for (name, duration) in zip(PhaseName.allCases, durations) {
            let ok = name != failing
            let message = ok ? messages[name]?.0 ?? "" : messages[name]?.1 ?? ""
            result.append(Phase(name, PhaseResult(success: ok, duration: duration, message: message)))
            if !ok && stopAfterFailure { break }
        }
        return result
    }

    static func numerics(_ initial: Double, _ fault: Double, _ recovered: Double?, faultRoute: [String],
                         degraded: Bool = false) -> [String: NumericsRecord] {
        var records = [
            "initial_inference": NumericsRecord(maxAbsError: initial, relativeL2: 3.1e-7, route: ["chrome", "firefox", "edge"],
                                                degraded: false, latency: 0.412),
            "fault_inference": NumericsRecord(maxAbsError: fault, relativeL2: 3.4e-7, route: faultRoute,
                                              degraded: degraded, latency: 0.655),
        ]
        if let recovered {
            records["recovery_inference"] = NumericsRecord(maxAbsError: recovered, relativeL2: 3.0e-7,
                                                           route: ["chrome", "firefox", "edge"], degraded: false,
                                                           latency: 0.398)
        }
        return records
    }

    static var connectionLost: ScenarioResult {
        let fault = FaultRecord(kind: .connectionLost, targets: ["chrome"], simulated: true, seed: nil,
                                teardown: ["vkDestroyCommandPool on chrome", "queue chrome/0 released",
                                           "2 fences destroyed on chrome"], parts: [])
        let recovery = RecoveryRecord(
            strategy: "progressive", success: false, degraded: true,
            message: "chrome did not reconnect: restart budget of 3 spent",
            steps: [RecoveryStep(name: "detection", context: "chrome", duration: 0.00041),
                    RecoveryStep(name: "queue_creation", context: "chrome", duration: 0.0012, detail: "VK_ERROR_DEVICE_LOST"),
                    RecoveryStep(name: "backoff", context: "chrome", duration: 0.05),
                    RecoveryStep(name: "queue_creation", context: "chrome", duration: 0.0011, detail: "VK_ERROR_DEVICE_LOST"),
                    RecoveryStep(name: "backoff", context: "chrome", duration: 0.1),
                    RecoveryStep(name: "queue_creation", context: "chrome", duration: 0.0013, detail: "VK_ERROR_DEVICE_LOST")],
            bytesUploaded: 0, contextsRebuilt: [], contextsReconnected: [],
            placementBefore: planned, placementAfter: Placement(contexts: ["firefox", "firefox", "edge"]),
            attempts: 3, duration: 0.154)
        return ScenarioResult(
            scenario: "connection_lost", description: "Browser connection loss scenario", overallSuccess: false,
            phases: phases([0.43170619010925293, 0.412, 0.0009, 0.655, 0.154], failing: .recovery, stopAfterFailure: true),
            fault: fault, recovery: recovery,
            numerics: numerics(4.6e-6, 5.1e-6, nil, faultRoute: ["firefox", "firefox", "edge"]),
            events: [PoolEvent(t: 0.0, context: nil, kind: "pool_started", detail: "3 contexts"),
                     PoolEvent(t: 0.8441, context: "chrome", kind: "fault_injected", detail: "connection_lost (simulated)"),
                     PoolEvent(t: 0.8452, context: "chrome", kind: "state", detail: "ready → disconnected"),
                     PoolEvent(t: 1.0021, context: "chrome", kind: "state", detail: "recovering → failed")])
    }

    static var componentFailure: ScenarioResult {
        let fault = FaultRecord(kind: .componentFailure, targets: ["firefox:layer5.attention"], simulated: true, seed: nil,
                                teardown: ["weight buffers of layer5.attention on firefox (9.0 MiB)",
                                           "attention pipeline on firefox"], parts: [])
        let recovery = RecoveryRecord(
            strategy: "progressive", success: true, degraded: false, message: "layer5.attention reloaded on firefox",
            steps: [RecoveryStep(name: "detection", context: "firefox", duration: 0.0003),
                    RecoveryStep(name: "pipeline_creation", context: "firefox", duration: 0.021),
                    RecoveryStep(name: "weight_upload", context: "firefox", duration: 0.018, bytes: attentionBytes),
                    RecoveryStep(name: "verification", context: "firefox", duration: 0.12)],
            bytesUploaded: attentionBytes, contextsRebuilt: [], contextsReconnected: [],
            placementBefore: planned, placementAfter: planned, attempts: 1, duration: 0.1593)
        return ScenarioResult(
            scenario: "component_failure", description: "Model component failure scenario", overallSuccess: true,
            phases: phases([0.36, 0.401, 0.0004, 0.702, 0.1593, 0.405]), fault: fault, recovery: recovery,
            numerics: numerics(4.6e-6, 4.9e-6, 4.6e-6, faultRoute: ["chrome", "chrome", "edge"]),
            events: [PoolEvent(t: 0.0, context: nil, kind: "pool_started", detail: "3 contexts"),
                     PoolEvent(t: 0.7612, context: "firefox", kind: "fault_injected", detail: "component_failure layer5.attention")])
    }

    static var browserCrash: ScenarioResult {
        let fault = FaultRecord(kind: .browserCrash, targets: ["chrome"], simulated: true, seed: nil,
                                teardown: ["vkDestroyDevice on chrome (llvmpipe)"], parts: [])
        let recovery = RecoveryRecord(
            strategy: "progressive", success: true, degraded: false, message: "chrome rebuilt; shard 0 back on chrome",
            steps: [RecoveryStep(name: "detection", context: "chrome", duration: 0.0004),
                    RecoveryStep(name: "device_creation", context: "chrome", duration: 0.0021),
                    RecoveryStep(name: "pipeline_creation", context: "chrome", duration: 0.055),
                    RecoveryStep(name: "weight_upload", context: "chrome", duration: 0.2, bytes: shardBytes / 2),
                    RecoveryStep(name: "weight_upload", context: "chrome", duration: 0.11, bytes: shardBytes / 2),
                    RecoveryStep(name: "first_dispatch", context: "chrome", duration: 0.04),
                    RecoveryStep(name: "verification", context: "chrome", duration: 0.12)],
            bytesUploaded: shardBytes, contextsRebuilt: ["chrome"], contextsReconnected: [],
            placementBefore: Placement(contexts: ["firefox", "firefox", "edge"]), placementAfter: planned,
            attempts: 1, duration: 0.5275)
        return ScenarioResult(
            scenario: "browser_crash", description: "Complete browser crash scenario", overallSuccess: true,
            phases: phases([0.17, 0.398, 0.0031, 1.204, 0.5275, 0.401]), fault: fault, recovery: recovery,
            numerics: numerics(4.6e-6, 5.1e-6, 4.6e-6, faultRoute: ["firefox", "firefox", "edge"]),
            events: [PoolEvent(t: 0.0, context: nil, kind: "pool_started", detail: "3 contexts"),
                     PoolEvent(t: 0.5712, context: "chrome", kind: "state", detail: "ready → crashed")])
    }

    static var multipleFailures: ScenarioResult {
        let crash = FaultRecord(kind: .browserCrash, targets: ["firefox"], simulated: true, seed: nil,
                                teardown: ["vkDestroyDevice on firefox (llvmpipe)"], parts: [])
        let lost = FaultRecord(kind: .connectionLost, targets: ["chrome"], simulated: true, seed: nil,
                               teardown: ["vkDestroyCommandPool on chrome"], parts: [])
        let fault = FaultRecord(kind: .multipleFailures, targets: ["firefox", "chrome"], simulated: true, seed: 7,
                                teardown: crash.teardown + lost.teardown, parts: [crash, lost])
        let recovery = RecoveryRecord(
            strategy: "progressive", success: true, degraded: false, message: "firefox rebuilt, chrome reconnected",
            steps: [RecoveryStep(name: "detection", context: "chrome", duration: 0.0005),
                    RecoveryStep(name: "queue_creation", context: "chrome", duration: 0.0009),
                    RecoveryStep(name: "device_creation", context: "firefox", duration: 0.0023),
                    RecoveryStep(name: "pipeline_creation", context: "firefox", duration: 0.061),
                    RecoveryStep(name: "weight_upload", context: "firefox", duration: 0.29, bytes: shardBytes),
                    RecoveryStep(name: "verification", context: "firefox", duration: 0.118)],
            bytesUploaded: shardBytes, contextsRebuilt: ["firefox"], contextsReconnected: ["chrome"],
            placementBefore: Placement(contexts: ["edge", "edge", "edge"]), placementAfter: planned,
            attempts: 2, duration: 0.4727)
        return ScenarioResult(
            scenario: "multiple_failures", description: "Multiple simultaneous failures scenario", overallSuccess: true,
            phases: phases([0.44, 0.405, 0.0042, 2.31, 0.4727, 0.399]), fault: fault, recovery: recovery,
            numerics: numerics(4.6e-6, 1.2e-5, 4.6e-6, faultRoute: ["cpu", "cpu", "edge"], degraded: true),
            events: [PoolEvent(t: 0.0, context: nil, kind: "pool_started", detail: "3 contexts"),
                     PoolEvent(t: 0.8501, context: "firefox", kind: "state", detail: "ready → crashed"),
                     PoolEvent(t: 0.8502, context: "chrome", kind: "state", detail: "ready → disconnected")])
    }

    /// All four scenarios in the original's order; connection_lost failed.
    static var report: FaultTestReport {
        FaultTestReport(testInfo: testInfo, scenarios: [connectionLost, componentFailure, browserCrash, multipleFailures])
    }

    /// A fresh empty directory under the system's temporary directory.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("poolfault-report-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The package root (this file is Tests/FaultTestTests/ReportFixtures.swift).
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
}
