import Foundation
import Testing

/// README's commands, run as written: every `poolfault` command in its code blocks (the main
/// job, the CI recipes, the Examples section) through the built binary, on a reduced model, and
/// each must end with the exit code its comment gives (0 when none). A documented command can
/// no longer fail unnoticed.
@Suite(.serialized) struct ReadmeExamplesTests {
    struct Example: CustomStringConvertible {
        let command: String
        let expectedStatus: Int32
        var description: String { command }
    }

    /// Every line of a fenced block that runs poolfault, from the `poolfault` word on, without
    /// its comment (`# exit N` there is the expected exit code).
    static let examples: [Example] = {
        let readme = (try? String(contentsOf: CLIRunner.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)) ?? ""
        var inBlock = false
        var found: [Example] = []
        for line in readme.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") { inBlock.toggle(); continue }
            guard inBlock, let start = line.range(of: #"(^|\s)(\.build/release/)?poolfault(\s|$)"#, options: .regularExpression) else { continue }
            var command = String(line[start.lowerBound...]).trimmingCharacters(in: .whitespaces)
            var status: Int32 = 0
            if let hash = command.range(of: " #") {
                let comment = command[hash.upperBound...]
                if let match = comment.firstMatch(of: /exit (\d+)/) { status = Int32(match.1) ?? 0 }
                command = String(command[..<hash.lowerBound]).trimmingCharacters(in: .whitespaces)
            }
            if command.hasPrefix(".build/release/") { command.removeFirst(".build/release/".count) }
            if !found.contains(where: { $0.command == command }) { found.append(Example(command: command, expectedStatus: status)) }
        }
        return found
    }()

    /// The command with the binary's path and the reductions: a smaller model (`onBERTBase`), one
    /// run or trial, a shorter soak.
    /// A chain (`poolfault … && poolfault …`) is reduced command by command.
    static func reduced(_ command: String) -> String {
        command.components(separatedBy: " && ").map(reducedOne).joined(separator: " && ")
    }

    static func reducedOne(_ command: String) -> String {
        var parts = command.components(separatedBy: " > ")
        var words = parts[0].split(separator: " ").map(String.init)
        words[0] = "'\(CLIRunner.binary.path)'"
        let sub = words.count > 1 && !words[1].hasPrefix("-") ? words[1] : "run"
        let subsub = sub == "bench" && words.count > 2 ? words[2] : ""
        func replace(_ flag: String, with value: String) {
            if let i = words.firstIndex(of: flag), i + 1 < words.count { words[i + 1] = value }
        }
        replace("--runs", with: "1")
        replace("--trials", with: "1")
        replace("--duration", with: "3s")  // a soak still sees a fault and a scrub every 2 s: it is the command that is tested, not the load
        if ["run", "infer", "soak"].contains(sub) || ["forward", "recovery", "corruption"].contains(subsub) {
            if command.contains("vit-") {
                words += ["--layers", "3"]
            } else {
                words += (onBERTBase.contains(command) ? ["--layers", "3"] : ["--weights", TinyModel.path]) + ["--seq-len", "8"]
            }
        }
        parts[0] = words.joined(separator: " ")
        return parts.joined(separator: " > ")
    }

    /// BERT commands run on bert-base itself (3 layers): the main job and every scenario of it.
    /// The others run on the tiny BERT (`TinyModel`): what they show is their flags, and
    /// bert-base's weights would be most of their work.
    static let onBERTBase: Set<String> = ["poolfault", "poolfault --scenario all --watchdog 1"]

    /// Examples another test runs in full, with more checks than an exit code: not run twice.
    static let runElsewhere = ["poolfault --level medium": "LongLevelCLITests runs medium's 24 scenarios before its checks"]

    // Test that README documents the commands this suite runs (a parse that finds none proves nothing).
    @Test func readmeHasExamples() {
        #expect(Self.examples.count >= 15, "\(Self.examples)")
        for command in Array(Self.runElsewhere.keys) + Self.onBERTBase {
            #expect(Self.examples.contains { $0.command == command }, "README still shows \(command)")
        }
        #expect(Self.examples.contains { $0.command == "poolfault" }, "the main job")
        #expect(Self.examples.contains { $0.expectedStatus == 1 } && Self.examples.contains { $0.expectedStatus == 64 })
    }

    @Test(arguments: examples.filter { runElsewhere[$0.command] == nil })
    func readmeExampleRunsAsDocumented(_ example: Example) throws {
        let dir = Scratch.root.appendingPathComponent("poolfault-readme-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let command = "cd '\(dir.path)' && \(Self.reduced(example.command))"
        let r = try CLIRunner.run(shell: command)
        #expect(r.status == example.expectedStatus, "\(command)\n\(r.stdout.suffix(600))\n\(r.stderr.suffix(600))")
        if example.expectedStatus == 64 { #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)") }
    }
}
