import Foundation
import TransformerGPU

/// One silent corruption caught: which check caught it, on which context, where, and when.
public struct CorruptionDetection: Sendable, Codable, Equatable {
    /// Seconds since the run started.
    public let t: Double
    public let context: String
    /// The shard a request was running when the check failed (nil for a scrub).
    public let shard: Int?
    public let detector: CorruptionDetector
    public let component: String?
    public let tensor: String?
    public let detail: String

    public init(t: Double, context: String, shard: Int?, finding: CorruptionFinding) {
        self.t = t; self.context = context; self.shard = shard
        detector = finding.detector; component = finding.component; tensor = finding.tensor; detail = finding.detail
    }

    public var finding: CorruptionFinding { CorruptionFinding(detector: detector, component: component, tensor: tensor, detail: detail) }
}

/// The pool's record of silent corruption: every detection, every isolation, and which requests
/// are checked against the CPU reference (`PoolConfiguration.verifyEvery`).
final class CorruptionLedger: @unchecked Sendable {  // state under `lock`
    private let lock = NSLock()
    private var stored: [CorruptionDetection] = []
    private var isolatedContexts: [String: String] = [:]
    private var requests = 0
    let verifyEvery: Int

    init(verifyEvery: Int) { self.verifyEvery = verifyEvery }

    func add(_ detection: CorruptionDetection) { lock.withLock { stored.append(detection) } }
    var detections: [CorruptionDetection] { lock.withLock { stored } }

    func isolate(_ context: String, why: String) { lock.withLock { isolatedContexts[context] = why } }
    var isolated: [String: String] { lock.withLock { isolatedContexts } }

    /// Whether the next request is one the reference check sees: every one, every Nth, or none.
    func nextRequestVerified() -> Bool {
        lock.withLock {
            defer { requests += 1 }
            return verifyEvery > 0 && requests % verifyEvery == 0
        }
    }
}
