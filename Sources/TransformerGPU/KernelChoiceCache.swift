import Foundation
import VulkanCompute

/// The file the tuner's choices live in, beside Mesa's shader cache
/// (`$XDG_CACHE_HOME/poolfault/kernel-choices.json`, else under `~/.cache`), or where
/// POOLFAULT_KERNEL_CHOICES says. One entry per machine key, so a home directory shared by a
/// cluster's nodes keeps each node's own; an entry for another key is never used.
public struct KernelChoiceCache: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    /// Where the choices live; nil when no home or cache directory can be named.
    public static var `default`: KernelChoiceCache? {
        if let path = GPUKnobs.kernelChoices.value { return KernelChoiceCache(path: path) }
        let environment = ProcessInfo.processInfo.environment
        let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? environment["HOME"].flatMap { $0.isEmpty ? nil : $0 + "/.cache" }
        return base.map { KernelChoiceCache(path: $0 + "/poolfault/kernel-choices.json") }
    }

    /// POOLFAULT_TUNING=off: built-in defaults, nothing measured, nothing read or written.
    public static var tuningEnabled: Bool { GPUKnobs.tuning.value ?? true }

    public struct Entry: Codable, Sendable {
        public var key: TuningKey
        public var choices: KernelChoices
    }

    struct File: Codable {
        static let currentFormat = "poolfault-kernel-choices/1"
        var format: String
        var entries: [Entry]
    }

    /// Why the file was not used: it is not there, cannot be read, or is not ours.
    public struct Unusable: Error, CustomStringConvertible {
        public let description: String
    }

    /// The file's entries: none when it does not exist; throws `Unusable` when it exists but
    /// cannot be read as poolfault's choices (then it is ignored, and replaced after tuning).
    public func read() throws -> (entries: [Entry], existed: Bool) {
        guard FileManager.default.fileExists(atPath: path) else { return ([], false) }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw Unusable(description: "cannot read \(path): \(error.localizedDescription)")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let file = try? decoder.decode(File.self, from: data) else {
            throw Unusable(description: "\(path) is not a poolfault kernel-choices file (not the JSON it writes)")
        }
        guard file.format == File.currentFormat else {
            throw Unusable(description: "\(path) has format \(file.format), not \(File.currentFormat)")
        }
        return (file.entries, true)
    }

    /// Replaces `key`'s entry (keeping other machines'), written atomically: a reader sees the
    /// old file or the new one, never half of one. An unusable old file is replaced whole.
    public func write(_ choices: KernelChoices, for key: TuningKey) throws {
        var entries = ((try? read())?.entries ?? []).filter { $0.key != key }
        entries.append(Entry(key: key, choices: choices))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let data = try encoder.encode(File(format: File.currentFormat, entries: Array(entries.suffix(32))))
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
