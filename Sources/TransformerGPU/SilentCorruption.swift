import Transformer

/// Which check caught a wrong answer.
public enum CorruptionDetector: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// The shard's output compared with the CPU reference's at the same shard boundary.
    case reference
    /// The checksums carried through each Linear (gemm_check.comp).
    case checksum
    /// A digest of every weight row on the device against the source's (scrub.comp).
    case scrub

    public var description: String { rawValue }
}

/// A silent data corruption caught on a context: a wrong answer, or wrong weights, with no error
/// from the device. Thrown by the check that caught it, so the request that met it fails over
/// instead of reaching a client.
public struct CorruptionFinding: Error, Sendable, Codable, Equatable, CustomStringConvertible {
    public var detector: CorruptionDetector
    /// The component whose output or weights are wrong ("layer3.attention"), when known.
    public var component: String?
    /// The tensor, when known ("encoder.layer.3.attention.self.query.weight").
    public var tensor: String?
    /// What the check saw, one line.
    public var detail: String

    public init(detector: CorruptionDetector, component: String? = nil, tensor: String? = nil, detail: String) {
        self.detector = detector; self.component = component; self.tensor = tensor; self.detail = detail
    }

    public var description: String {
        "silent corruption caught by the \(detector) check" + (component.map { " in \($0)" } ?? "")
            + (tensor.map { " (\($0))" } ?? "") + ": \(detail)"
    }

    /// One line for the wire (a failed request's message): fields separated by U+001F.
    public var wire: String { [detector.rawValue, component ?? "", tensor ?? "", detail].joined(separator: "\u{1F}") }

    public init?(wire: String) {
        let fields = wire.split(separator: "\u{1F}", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 4, let detector = CorruptionDetector(rawValue: fields[0]) else { return nil }
        self.init(detector: detector, component: fields[1].isEmpty ? nil : fields[1], tensor: fields[2].isEmpty ? nil : fields[2],
                  detail: fields[3])
    }
}

/// Which checks run on a context's device (the CPU reference check is the pool's).
public struct IntegrityChecks: Sendable, Equatable, Codable {
    /// Checksummed Linear layers: a check dispatch after every GEMM.
    public var checksums: Bool
    /// Digests of the source's rows kept with the weights, for `GPUModelContext.scrub`.
    public var scrubbing: Bool

    public init(checksums: Bool = false, scrubbing: Bool = false) {
        self.checksums = checksums
        self.scrubbing = scrubbing
    }

    public static let none = IntegrityChecks()
    public static let all = IntegrityChecks(checksums: true, scrubbing: true)
}
