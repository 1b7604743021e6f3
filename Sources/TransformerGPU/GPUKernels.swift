import Foundation
import Shaders
import Transformer
import VulkanCompute

/// Every pipeline a transformer needs on one device, created together and built side by side
/// (`KernelBatch`: the "pipeline creation" step of a context's start and of its recovery).
public final class GPUKernels: @unchecked Sendable {  // immutable after init
    public let device: ComputeDevice
    public let family: GEMMFamily
    /// Queries each attention invocation takes. On lavapipe, where the keys come to every lane by
    /// shuffle (`attentionKeyBlock`), 2: more queries per invocation once paid for the fetches
    /// (every lane fetching every key), and now only lengthen the cold JIT (4: +1 s) for nothing
    /// (ViT-B/16's core 17.3 ms at 2, 17.5 at 3, 21.8 at 4). A GPU keeps one, to keep its
    /// registers free. POOLFAULT_ATTENTION_QUERIES overrides.
    public let attentionQueries: Int
    /// Keys per block of the attention's online softmax, what has been summed rescaled once per
    /// block. Above 1, lane i fetches key i of the block and shuffles hand it to every lane
    /// (attention.comp's KEY_SHUFFLE): on lavapipe, a block of `lanes` keys (ViT-B/16's attention
    /// core per forward: 41.6 ms with every lane fetching every key and a rescale per key, 16.8
    /// ms so; BERT-base's 14.8 → 8.1 ms). A GPU keeps 1: there the lanes' identical fetches are one
    /// broadcast already.
    public let attentionKeyBlock: Int

    /// Rows of the texel GEMM's tile, for this model's sequence (`GEMMFamily.texelRows`).
    public let texelRows: Int
    /// Invocations per workgroup of the SIMD-shaped kernels (texel GEMM, attention): the
    /// device's subgroup size, which on lavapipe is its SIMD width (8 at 256 bits, 16 at 512).
    public let lanes: Int
    /// GEMM variants with the epilogue fused in the store.
    let gemm: [GEMMEpilogue: Kernel]
    /// Elementwise passes for the epilogues a family does not fuse (texel: GELU and tanh).
    let activation: [GEMMEpilogue: Kernel]
    /// layernorm_rows.comp with the texel family, layernorm.comp with the tiled one.
    let layerNorm: Kernel
    let layerNormResidual: Kernel
    let attention: Kernel
    let bertEmbeddings: Kernel?
    let vitPatches: Kernel?
    let vitAssemble: Kernel?
    /// The checksum of a Linear (gemm_check.comp), when checksums are on.
    let check: Kernel?
    /// Weight scrubbing (scrub.comp): rows read as 4-word texels, and one word at a time for a
    /// pitch that is not a multiple of 4; when scrubbing is on.
    let scrub: (texels: Kernel, words: Kernel)?
    /// Which integrity checks these kernels can run.
    public let integrity: IntegrityChecks
    /// Seconds spent compiling GLSL (0 when every variant was cached) and creating the pipelines
    /// (start to last, side by side).
    public let compileSeconds: Double
    public let pipelineSeconds: Double

    public init(device: ComputeDevice, config: ModelConfig, family: GEMMFamily? = nil, attentionQueries: Int? = nil,
                attentionKeyBlock: Int? = nil, texelRows: Int? = nil, integrity: IntegrityChecks = .none,
                compiler: ShaderCompiler = .shared) throws {
        self.device = device
        self.integrity = integrity
        // What the tuner measured on this machine, where it did (an argument or a knob still wins).
        let tuned = KernelChoiceBook.shared.choices(for: device.physical.info)
        let family = Self.family(for: device.physical.info, config: config, requested: family, tuned: tuned)
        self.family = family
        let lanes = Self.simdLanes(device.physical.info)
        self.lanes = lanes
        self.texelRows = texelRows ?? GEMMFamily.texelRows(covering: config.sequenceLength, lanes: lanes, tuned: tuned)
        let software = device.physical.info.isSoftware
        // Set (an argument, the knob): as set. Chosen (measured, built in): never more than a
        // sequence shorter than the workgroup needs, as the attention's unrolled body (queries ×
        // key block × head texels) is most of its pipeline's creation on lavapipe, and the
        // queries and keys past the sequence are work thrown away.
        let sequence = max(1, config.sequenceLength)
        let set = attentionQueries ?? GPUKnobs.attentionQueries.value
        let chosen = tuned?.attentionQueries ?? Self.defaultAttentionQueries(device.physical.info)
        self.attentionQueries = set.map { min(max($0, 1), 16) } ?? min(chosen, (sequence + lanes - 1) / lanes)
        self.attentionKeyBlock = attentionKeyBlock.map { min(max($0, 1), lanes) } ?? (software ? min(lanes, sequence) : 1)
        let batch = KernelBatch(device: device, compiler: compiler)
        func make(_ source: ShaderSource, _ bindings: [BindingKind], push: Int, _ defines: [String: String] = [:]) throws -> Kernel {
            try batch.add(source, bindings: bindings, pushConstantSize: push, defines: defines)
        }
        let s = BindingKind.storageBuffer
        var gemm: [GEMMEpilogue: Kernel] = [:]
        var activation: [GEMMEpilogue: Kernel] = [:]
        for e in GEMMEpilogue.allCases {
            if family.fuses(e) {
                gemm[e] = try make(family.source, [family.inputBinding, family.inputBinding, s, s], push: 12,
                                   family.defines(lanes: lanes, rows: self.texelRows).merging(["EPILOGUE": "\(e.rawValue)"]) { $1 })
            }
            // A checksum reads the product before its epilogue: checked GEMMs never fuse one.
            if e != .none && (!family.fuses(e) || integrity.checksums) {
                activation[e] = try make(ShaderLibrary.activation, [s, .uniformTexelBuffer], push: 4, ["EPILOGUE": "\(e.rawValue)"])
            }
        }
        self.gemm = gemm
        self.activation = activation
        // With the CPU-shaped GEMM (lavapipe), the CPU-shaped LayerNorm: a SIMD group per row
        // reading texels, 4.5× faster there (16.5 → 3.7 ms per BERT forward); else a workgroup per row.
        if family == .texel && config.hiddenSize % 4 == 0 {
            let t = BindingKind.uniformTexelBuffer, d = ["HIDDEN": "\(config.hiddenSize)", "LANES": "\(lanes)"]
            layerNorm = try make(ShaderLibrary.layerNormRows, [t, t, t, t, s], push: 8, d.merging(["RESIDUAL": "0"]) { $1 })
            layerNormResidual = try make(ShaderLibrary.layerNormRows, [t, t, t, t, s], push: 8, d.merging(["RESIDUAL": "1"]) { $1 })
        } else {
            layerNorm = try make(ShaderLibrary.layerNorm, [s, s, s, s, s], push: 8, ["RESIDUAL": "0"])
            layerNormResidual = try make(ShaderLibrary.layerNorm, [s, s, s, s, s], push: 8, ["RESIDUAL": "1"])
        }
        let t = BindingKind.uniformTexelBuffer
        attention = try make(ShaderLibrary.attention, [t, t, t, s, s], push: 12,
                             ["HEAD_DIM": "\(config.headDim)", "LANES": "\(lanes)", "QUERIES": "\(self.attentionQueries)", "KEYS": "\(self.attentionKeyBlock)", "KEY_SHUFFLE": self.attentionKeyBlock > 1 ? "1" : "0"])
        bertEmbeddings = config.kind == .bert ? try make(ShaderLibrary.bertEmbeddings, [s, s, s, s, s, s], push: 4) : nil
        vitPatches = config.kind == .vit ? try make(ShaderLibrary.vitPatches, [s, s], push: 12) : nil
        vitAssemble = config.kind == .vit ? try make(ShaderLibrary.vitAssemble, [s, s, s, s], push: 8) : nil
        check = integrity.checksums
            ? try make(ShaderLibrary.gemmCheck, [t, t, s], push: 28, ["LANES": "\(lanes)"]) : nil
        scrub = integrity.scrubbing
            ? (try make(ShaderLibrary.scrub, [s, s], push: 12, ["LANES": "\(lanes)", "VEC4": "1"]),
               try make(ShaderLibrary.scrub, [s, s], push: 12, ["LANES": "\(lanes)", "VEC4": "0"])) : nil
        compileSeconds = batch.compileSeconds
        pipelineSeconds = try batch.build()
    }

    /// How these kernels compute, for reports: "texel GEMM 32x16, 16 lanes, attention 2
    /// queries/invocation in 16-key blocks" (+ ", staged uploads" where the device skips mapped memory).
    public var summary: String {
        return "\(family.rawValue) GEMM\(family == .texel ? " \(texelRows)x\(GEMMFamily.texelColumns)" : ""), \(lanes) lanes, "
            + "attention \(attentionQueries) queries/invocation in \(attentionKeyBlock)-key blocks" + (device.unifiedMemory ? "" : ", staged uploads")
    }

    /// The GEMM family a model runs on a device: the texel kernel reads K and stores N 4 at a
    /// time, so a model with other widths runs tiled; else the one asked for, or chosen.
    static func family(for info: PhysicalDeviceInfo, config: ModelConfig, requested: GEMMFamily? = nil,
                       tuned: KernelChoices?) -> GEMMFamily {
        let innerDimensions = [config.hiddenSize, config.intermediateSize] + (config.kind == .vit ? [config.patchVectorSize] : [])
        guard innerDimensions.allSatisfy({ $0 % GEMMFamily.texelMultiple == 0 }) else { return .tiled }
        return requested ?? GEMMFamily.choose(for: info, tuned: tuned)
    }

    /// How these kernels want the weights laid out: what a `WeightImage` must match to be imported.
    public var weightLayout: WeightImage.Layout {
        WeightImage.Layout(family: family, lanes: lanes, columns: GEMMFamily.texelColumns,
                           alignment: max(4096, device.hostImportAlignment))
    }

    /// Whether weights for these kernels can come from `image` as they are: the device imports
    /// host memory and the image is of these kernels' layout.
    public func canImport(_ image: WeightImage) -> Bool { device.hostImport && image.layout == weightLayout }

    /// The layout the default kernels of `config` on a device would read (the pool makes its
    /// image by it before any browser starts); nil where the device cannot import host memory.
    public static func weightLayout(for info: PhysicalDeviceInfo, config: ModelConfig) -> WeightImage.Layout? {
        guard info.hostMemoryImport == true, let alignment = info.hostImportAlignment, alignment > 0 else { return nil }
        let family = family(for: info, config: config, tuned: KernelChoiceBook.shared.choices(for: info))
        return WeightImage.Layout(family: family, lanes: simdLanes(info), columns: GEMMFamily.texelColumns, alignment: max(4096, alignment))
    }

    /// Queries per attention invocation unless measured or set: 2 on lavapipe, 1 on a GPU (`attentionQueries`).
    public static func defaultAttentionQueries(_ info: PhysicalDeviceInfo) -> Int { info.isSoftware ? 2 : 1 }

    /// The SIMD-shaped kernels' workgroup size on a device: its subgroup size, within 4…64 (8
    /// when it reports none).
    public static func simdLanes(_ info: PhysicalDeviceInfo) -> Int {
        let subgroup = Int(info.limits.subgroupSize)
        return subgroup > 0 ? min(max(subgroup, 4), 64) : 8
    }

    /// Releases every pipeline now (a context's teardown on a device it shares); later use
    /// throws `.deviceLost` naming the kernel.
    public func release() {
        for k in Array(gemm.values) + Array(activation.values) + [layerNorm, layerNormResidual, attention]
            + [bertEmbeddings, vitPatches, vitAssemble, check, scrub?.texels, scrub?.words].compactMap({ $0 }) { k.release() }
    }

    /// A GEMM weight W[rows][k] on the device, its rows `family.weightPitch(k:)` floats apart,
    /// the padding zeroed (the texel GEMM reads a row's padding texel as the second half of its
    /// last k step when K/4 is odd): the layout `gemm` expects of W.
    public func weightBuffer(_ values: UnsafeBufferPointer<Float>, rows: Int, k: Int, label: String,
                             via channel: Channel) throws -> DeviceBuffer {
        guard rows > 0, k > 0, values.count == rows * k else {
            throw VulkanError.invalidUse("weight \(label): \(values.count) floats are not \(rows) rows of \(k)")
        }
        let pitch = family.weightPitch(k: k)
        let buffer = try DeviceBuffer(device: device, size: family.weightRows(columns: rows, lanes: lanes) * pitch * 4, label: label)
        try buffer.writeRows(UnsafeRawBufferPointer(values), rowBytes: k * 4, pitchBytes: pitch * 4,
                             rowOrder: family.weightRowOrder(columns: rows, lanes: lanes), via: channel)
        return buffer
    }

    /// Convenience for arrays (benchmarks, tests).
    public func weightBuffer(_ values: [Float], rows: Int, k: Int, label: String, via channel: Channel) throws -> DeviceBuffer {
        try values.withUnsafeBufferPointer { try weightBuffer($0, rows: rows, k: k, label: label, via: channel) }
    }

    /// C[M][N] = epilogue(A[M][K] · W[N][K]ᵀ + bias), W laid out by `weightBuffer`: one fused dispatch, or the plain GEMM and
    /// an elementwise pass where the family does not fuse that epilogue. An unfused residual
    /// needs `scratch` (M×N floats, free at this point) to hold the product before C += it.
    /// The texel family reads K and stores N four at a time: both must be multiples of 4 (`init`
    /// picks it only for models whose widths are).
    /// `check`: where the Linear's checksum sums go (the context's checks buffer, from `base`):
    /// the gathering dispatch runs on the product, between the GEMM and its epilogue.
    func gemm(_ a: DeviceBuffer, _ w: DeviceBuffer, _ bias: DeviceBuffer, _ c: DeviceBuffer,
              m: Int, n: Int, k: Int, _ epilogue: GEMMEpilogue = .none, scratch: DeviceBuffer? = nil,
              check: (out: DeviceBuffer, base: Int, gatherInput: Bool)?, label: String) throws -> [BatchStep] {
        guard let check, let checkKernel = self.check else {
            return try gemm(a, w, bias, c, m: m, n: n, k: k, epilogue, scratch: scratch, label: label)
        }
        guard let plain = gemm[.none] else { throw VulkanError.invalidUse("\(label): no plain \(family.rawValue) GEMM kernel") }
        let product = epilogue == .residual ? (scratch ?? c) : c
        let push = [UInt32(m), UInt32(n), UInt32(k)]
        var steps: [BatchStep] = [.dispatch(Dispatch(plain, buffers: [a, w, bias, product], push: push,
                                                     groups: family.groups(m: m, n: n, lanes: lanes, rows: texelRows), label: label)),
                                  GEMMCheck.dispatch(checkKernel, x: a, y: product, out: check.out, base: check.base,
                                                     m: m, n: n, k: k, gatherInput: check.gatherInput, lanes: lanes, label: label)]
        if epilogue != .none {
            guard let pass = activation[epilogue] else { throw VulkanError.invalidUse("\(label): no pass for the \(epilogue) epilogue") }
            steps.append(.dispatch(Dispatch(pass, buffers: [c, product], push: [UInt32(m * n)],
                                            groups: (groupCount((m * n + 3) / 4, 64), 1, 1), label: "\(label).\(epilogue)")))
        }
        return steps
    }

    public func gemm(_ a: DeviceBuffer, _ w: DeviceBuffer, _ bias: DeviceBuffer, _ c: DeviceBuffer,
                     m: Int, n: Int, k: Int, _ epilogue: GEMMEpilogue = .none, scratch: DeviceBuffer? = nil,
                     label: String) throws -> [BatchStep] {
        if family == .texel, k % GEMMFamily.texelMultiple != 0 || n % GEMMFamily.texelMultiple != 0 {
            throw VulkanError.invalidUse("\(label): the texel GEMM needs K and N multiples of \(GEMMFamily.texelMultiple), not K = \(k), N = \(n)")
        }
        let push = [UInt32(m), UInt32(n), UInt32(k)]
        let groups = family.groups(m: m, n: n, lanes: lanes, rows: texelRows)
        if let fused = gemm[epilogue] {
            return [.dispatch(Dispatch(fused, buffers: [a, w, bias, c], push: push, groups: groups, label: label))]
        }
        guard let plain = gemm[.none], let pass = activation[epilogue] else {
            throw VulkanError.invalidUse("\(label): no \(family.rawValue) GEMM kernel for the \(epilogue) epilogue")
        }
        let product = epilogue == .residual ? (scratch ?? c) : c
        return [.dispatch(Dispatch(plain, buffers: [a, w, bias, product], push: push, groups: groups, label: label)),
                .dispatch(Dispatch(pass, buffers: [c, product], push: [UInt32(m * n)],
                                   groups: (groupCount((m * n + 3) / 4, 64), 1, 1),
                                   label: "\(label).\(epilogue)"))]
    }

    /// The attention core: ctx = softmax(q·kᵀ · scale + mask) · v per head, for `config`'s
    /// sequence, width and heads.
    func attentionCore(q: DeviceBuffer, k: DeviceBuffer, v: DeviceBuffer, mask: DeviceBuffer, into ctx: DeviceBuffer,
                       config: ModelConfig, label: String) -> BatchStep {
        let s = config.sequenceLength, scale = 1 / Float(config.headDim).squareRoot()
        return .dispatch(Dispatch(attention, buffers: [q, k, v, mask, ctx], push: [UInt32(s), UInt32(config.hiddenSize), scale.bitPattern],
                                  groups: (groupCount(s, lanes * attentionQueries), UInt32(config.numHeads), 1), label: label))
    }

    /// y = LayerNorm(x (+ residual)) · gamma + beta over `rows` rows of `width`.
    func layerNorm(_ x: DeviceBuffer, residual: DeviceBuffer?, gamma: DeviceBuffer, beta: DeviceBuffer, into y: DeviceBuffer,
                   rows: Int, width: Int, eps: Float, label: String) -> [BatchStep] {
        [.dispatch(Dispatch(residual == nil ? layerNorm : layerNormResidual,
                           buffers: [x, residual ?? x, gamma, beta, y], push: [UInt32(width), eps.bitPattern],
                           groups: (UInt32(rows), 1, 1), label: label))]
    }
}
