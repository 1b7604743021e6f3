import ArgumentParser
import Foundation
import TransformerGPU
import VulkanCompute

/// Before any kernels are built: this machine's measured kernel choices, read from the cache,
/// or measured now (the first use on a machine, a foreign or unreadable cache, `--retune`).
/// A cache file that is not this machine's is said and ignored, never trusted.
enum KernelTuning {
    static func prepare(_ physical: PhysicalDevice, retune: Bool) throws {
        guard KernelChoiceCache.tuningEnabled else {
            if retune { throw ValidationError("--retune measures kernel choices, and POOLFAULT_TUNING=off turns tuning off: drop one") }
            return
        }
        let key = KernelChoiceBook.shared.key(for: physical.info)
        guard let cache = KernelChoiceCache.default else {
            printError("poolfault: no cache directory for kernel choices (HOME and XDG_CACHE_HOME unset): kernels keep their defaults; set POOLFAULT_KERNEL_CHOICES=PATH to measure and keep them")
            return
        }
        var why = retune ? "--retune" : "first use on this machine"
        if !retune {
            do {
                let (entries, _) = try cache.read()
                if let entry = entries.first(where: { $0.key == key }), entry.choices.isComplete {
                    KernelChoiceBook.shared.set(entry.choices, for: key)
                    return
                }
                if entries.contains(where: { $0.key == key }) {
                    why = "the last pass ran out of time before its last candidates, on a cold shader cache"
                } else if !entries.isEmpty {
                    why = "\(cache.path) holds choices measured elsewhere (\(entries.map(\.key.description).joined(separator: "; "))), ignored"
                }
            } catch {
                why = "\(error), ignored"
            }
        }
        let terminal = isatty(STDERR_FILENO) != 0
        printError("poolfault: measuring kernel variants on \(physical.info.name) (\(why)); at most \(Int(KernelTuner.budgetSeconds)) s")
        let device = try ComputeDevice(physical: physical, label: "tuning")
        let choices = try KernelTuner.tune(on: device) { step in
            if terminal { FileHandle.standardError.write(Data(("\r\u{1B}[K" + step).utf8)) }
        }
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        KernelChoiceBook.shared.set(choices, for: key)
        do {
            try cache.write(choices, for: key)
            printError("poolfault: kernel choices: \(describe(choices)) (\(String(format: "%.1f", choices.tuningSeconds)) s; kept in \(cache.path))")
        } catch {
            printError("poolfault: kernel choices: \(describe(choices)); could not keep them in \(cache.path): \(error.localizedDescription) (the next run measures again)")
        }
    }

    /// "texel GEMM, tile rows 32 at s128 and 50 at s197, attention 2 queries per invocation".
    static func describe(_ c: KernelChoices) -> String {
        var parts = ["\(c.gemmFamily.rawValue) GEMM"]
        if !c.texelRows.isEmpty {
            parts.append("tile rows " + c.texelRows.sorted { $0.key < $1.key }.map { "\($0.value) at s\($0.key)" }.joined(separator: " and "))
        }
        if let q = c.attentionQueries { parts.append("attention \(q) quer\(q == 1 ? "y" : "ies") per invocation") }
        if !c.skipped.isEmpty { parts.append("not measured (budget spent): \(c.skipped.joined(separator: ", "))") }
        return parts.joined(separator: ", ")
    }
}
