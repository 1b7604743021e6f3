import CGlslang
import Foundation

/// A GLSL compute source and the file name compile errors point at.
public struct ShaderSource: Sendable, Hashable {
    public let fileName: String
    public let text: String
    public init(fileName: String, text: String) {
        self.fileName = fileName
        self.text = text
    }
}

/// GLSL → SPIR-V through glslang's C API, with per-device `#define`s. Results are cached per
/// process by a hash of file name, source and defines, so a rebuilt context recompiles nothing.
/// A compile error is `VulkanError.shaderCompile` with the shader's file and line.
public final class ShaderCompiler: @unchecked Sendable {  // cache under `lock`; glslang calls serialised
    public static let shared = ShaderCompiler()
    private let lock = NSLock()
    private var cache: [UInt64: [UInt32]] = [:]
    /// glslang's process init builds its symbol tables (~100 ms once).
    private static let processInitialised: Bool = glslang_initialize_process() != 0

    public init() {}

    /// Compiles (or returns the cached) SPIR-V for `source` with `defines` prepended.
    public func compile(_ source: ShaderSource, defines: [String: String] = [:]) throws -> [UInt32] {
        let preamble = defines.sorted { $0.key < $1.key }.map { "#define \($0.key) \($0.value)\n" }.joined()
        let key = fnv1a(source.fileName + "\u{0}" + preamble + "\u{0}" + source.text)
        return try lock.withLock {
            if let hit = cache[key] { return hit }
            let spirv = try compileUncached(source, preamble: preamble)
            cache[key] = spirv
            return spirv
        }
    }

    /// How many distinct shader variants are cached.
    public var cachedCount: Int { lock.withLock { cache.count } }

    /// Every cached variant, serialised: what a new browser process is handed so it does not
    /// run glslang again (key u64, word count u32, words; little-endian).
    public func exportCache() -> Data {
        lock.withLock {
            var data = Data()
            func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
            put(UInt32(cache.count))
            for (key, words) in cache.sorted(by: { $0.key < $1.key }) {
                put(key)
                put(UInt32(words.count))
                words.withUnsafeBytes { data.append(contentsOf: $0) }
            }
            return data
        }
    }

    /// Adds the variants of an `exportCache()` blob. Returns how many it held; a truncated or
    /// malformed blob adds nothing (the shaders are then compiled, as without a cache).
    @discardableResult
    public func importCache(_ data: Data) -> Int {
        let bytes = [UInt8](data)
        var at = 0
        func get(_ size: Int) -> UInt64? {
            guard at + size <= bytes.count else { return nil }
            defer { at += size }
            return (0..<size).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) }
        }
        guard let count = get(4) else { return 0 }
        var found: [UInt64: [UInt32]] = [:]
        for _ in 0..<count {
            guard let key = get(8), let n = get(4).map(Int.init), n > 0, at + 4 * n <= bytes.count else { return 0 }
            let words = bytes[at..<(at + 4 * n)].withUnsafeBytes { raw in (0..<n).map { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) } }
            // SPIR-V's magic number first: anything else is not a module.
            guard words.first == 0x0723_0203 else { return 0 }
            at += 4 * n
            found[key] = words
        }
        lock.withLock { cache.merge(found) { old, _ in old } }
        return found.count
    }

    private func compileUncached(_ source: ShaderSource, preamble: String) throws -> [UInt32] {
        guard ShaderCompiler.processInitialised else {
            throw VulkanError.shaderCompile(file: source.fileName, line: nil, log: "glslang_initialize_process failed")
        }
        return try source.text.withCString { code in
            var input = glslang_input_t()
            input.language = GLSLANG_SOURCE_GLSL
            input.stage = GLSLANG_STAGE_COMPUTE
            input.client = GLSLANG_CLIENT_VULKAN
            input.client_version = GLSLANG_TARGET_VULKAN_1_2
            input.target_language = GLSLANG_TARGET_SPV
            input.target_language_version = GLSLANG_TARGET_SPV_1_5
            input.code = code
            input.default_version = 450
            input.default_profile = GLSLANG_NO_PROFILE
            input.force_default_version_and_profile = 0
            input.forward_compatible = 0
            input.messages = GLSLANG_MSG_DEFAULT_BIT
            input.resource = glslang_default_resource()
            guard let shader = glslang_shader_create(&input) else {
                throw VulkanError.shaderCompile(file: source.fileName, line: nil, log: "glslang_shader_create failed")
            }
            defer { glslang_shader_delete(shader) }
            if !preamble.isEmpty { preamble.withCString { glslang_shader_set_preamble(shader, $0) } }
            guard glslang_shader_preprocess(shader, &input) != 0, glslang_shader_parse(shader, &input) != 0 else {
                throw compileError(source.fileName, log(glslang_shader_get_info_log(shader)))
            }
            guard let program = glslang_program_create() else {
                throw VulkanError.shaderCompile(file: source.fileName, line: nil, log: "glslang_program_create failed")
            }
            defer { glslang_program_delete(program) }
            glslang_program_add_shader(program, shader)
            let messages = Int32(GLSLANG_MSG_SPV_RULES_BIT.rawValue | GLSLANG_MSG_VULKAN_RULES_BIT.rawValue)
            guard glslang_program_link(program, messages) != 0 else {
                throw compileError(source.fileName, log(glslang_program_get_info_log(program)))
            }
            glslang_program_SPIRV_generate(program, GLSLANG_STAGE_COMPUTE)
            let count = glslang_program_SPIRV_get_size(program)
            guard count > 0, let words = glslang_program_SPIRV_get_ptr(program) else {
                throw VulkanError.shaderCompile(file: source.fileName, line: nil, log: "no SPIR-V generated")
            }
            return Array(UnsafeBufferPointer(start: words, count: count))
        }
    }

    private func log(_ text: UnsafePointer<CChar>?) -> String {
        text.map { String(cString: $0) }?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }

    /// glslang logs "ERROR: 0:12: 'x' : undeclared identifier": turn the first error into
    /// `file:12` and keep the whole log.
    private func compileError(_ file: String, _ log: String) -> VulkanError {
        let firstError = log.split(separator: "\n").first { $0.hasPrefix("ERROR:") }.map(String.init) ?? log
        let parts = firstError.split(separator: ":", maxSplits: 3).map { $0.trimmingCharacters(in: .whitespaces) }
        let line = parts.count >= 3 ? Int(parts[2]) : nil
        let message = parts.count == 4 ? parts[3] : firstError
        return .shaderCompile(file: file, line: line, log: log.isEmpty ? message : "\(message)\n\(log)")
    }

    private func fnv1a(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}
