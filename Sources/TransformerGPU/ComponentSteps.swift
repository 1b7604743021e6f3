import Transformer
import VulkanCompute

/// The dispatches of each model component, in Hugging Face's order of operations
/// (shared/notes/transformer-numerics.md). Reads and writes `ActivationBuffers.hidden`.
struct ComponentSteps {
    let config: ModelConfig
    let kernels: GPUKernels
    let act: ActivationBuffers

    func steps(_ component: ModelComponent, _ w: ComponentWeights) throws -> [BatchStep] {
        switch (config.kind, component) {
        case (.bert, .embeddings): return try bertEmbeddings(w)
        case (.vit, .embeddings): return try vitEmbeddings(w)
        case let (.bert, .attention(n)): return try bertAttention(n, w)
        case let (.vit, .attention(n)): return try vitAttention(n, w)
        case let (.bert, .feedForward(n)): return try bertFeedForward(n, w)
        case let (.vit, .feedForward(n)): return try vitFeedForward(n, w)
        case (.bert, .pooler): return try pooler(w)
        case (.vit, .pooler): return try vitFinal(w)
        }
    }

    private var s: Int { config.sequenceLength }
    private var h: Int { config.hiddenSize }
    private var eps: Float { config.layerNormEps }

    private func bertEmbeddings(_ w: ComponentWeights) throws -> [BatchStep] {
        guard let kernel = kernels.bertEmbeddings, let ids = act.ids, let types = act.types else { return [] }
        return [
            .dispatch(Dispatch(kernel, buffers: [ids, types, try w["embeddings.word_embeddings.weight"],
                                                 try w["embeddings.position_embeddings.weight"],
                                                 try w["embeddings.token_type_embeddings.weight"], act.hidden],
                               push: [UInt32(h)], groups: (UInt32(s), 1, 1), label: "embeddings.gather")),
            kernels.layerNorm(act.hidden, residual: nil, gamma: try w["embeddings.LayerNorm.weight"],
                              beta: try w["embeddings.LayerNorm.bias"], into: act.hidden, rows: s, width: h, eps: eps,
                              label: "embeddings.LayerNorm"),
        ]
    }

    private func vitEmbeddings(_ w: ComponentWeights) throws -> [BatchStep] {
        guard let patchesKernel = kernels.vitPatches, let assemble = kernels.vitAssemble,
              let pixels = act.pixels, let patches = act.patches, let patchOut = act.patchOut else { return [] }
        let grid = config.patchesPerSide * config.patchesPerSide
        let vector = config.patchVectorSize
        return [
            .dispatch(Dispatch(patchesKernel, buffers: [pixels, patches],
                               push: [UInt32(config.numChannels), UInt32(config.imageSize), UInt32(config.patchSize)],
                               groups: (groupCount(grid * vector, 64), 1, 1), label: "embeddings.patches")),
            kernels.gemm(patches, try w["embeddings.patch_embeddings.projection.weight"],
                         try w["embeddings.patch_embeddings.projection.bias"], patchOut, m: grid, n: h, k: vector,
                         label: "embeddings.projection"),
            .dispatch(Dispatch(assemble, buffers: [patchOut, try w["embeddings.cls_token"],
                                                   try w["embeddings.position_embeddings"], act.hidden],
                               push: [UInt32(s), UInt32(h)], groups: (groupCount(s * h, 64), 1, 1), label: "embeddings.assemble")),
        ]
    }

    /// q, k, v projections of `input`, then the attention core into `ctx`.
    private func selfAttention(_ prefix: String, input: DeviceBuffer, _ w: ComponentWeights) throws -> [BatchStep] {
        var steps: [BatchStep] = []
        for (name, out) in [("query", act.q), ("key", act.k), ("value", act.v)] {
            steps.append(kernels.gemm(input, try w["\(prefix).\(name).weight"], try w["\(prefix).\(name).bias"], out,
                                      m: s, n: h, k: h, label: "\(prefix).\(name)"))
        }
        let scale = 1 / Float(config.headDim).squareRoot()
        steps.append(.dispatch(Dispatch(kernels.attention, buffers: [act.q, act.k, act.v, act.mask, act.scores, act.ctx],
                                        push: [UInt32(s), UInt32(h), scale.bitPattern],
                                        groups: (groupCount(s, 8), UInt32(config.numHeads), 1), label: "\(prefix).core")))
        return steps
    }

    private func bertAttention(_ n: Int, _ w: ComponentWeights) throws -> [BatchStep] {
        let p = "encoder.layer.\(n).attention"
        return try selfAttention("\(p).self", input: act.hidden, w) + [
            kernels.gemm(act.ctx, try w["\(p).output.dense.weight"], try w["\(p).output.dense.bias"], act.tmp,
                         m: s, n: h, k: h, label: "\(p).output.dense"),
            kernels.layerNorm(act.tmp, residual: act.hidden, gamma: try w["\(p).output.LayerNorm.weight"],
                              beta: try w["\(p).output.LayerNorm.bias"], into: act.hidden, rows: s, width: h, eps: eps,
                              label: "\(p).output.LayerNorm"),
        ]
    }

    private func bertFeedForward(_ n: Int, _ w: ComponentWeights) throws -> [BatchStep] {
        let p = "encoder.layer.\(n)"
        let i = config.intermediateSize
        return [
            kernels.gemm(act.hidden, try w["\(p).intermediate.dense.weight"], try w["\(p).intermediate.dense.bias"], act.ffn,
                         m: s, n: i, k: h, .gelu, label: "\(p).intermediate.dense"),
            kernels.gemm(act.ffn, try w["\(p).output.dense.weight"], try w["\(p).output.dense.bias"], act.tmp,
                         m: s, n: h, k: i, label: "\(p).output.dense"),
            kernels.layerNorm(act.tmp, residual: act.hidden, gamma: try w["\(p).output.LayerNorm.weight"],
                              beta: try w["\(p).output.LayerNorm.bias"], into: act.hidden, rows: s, width: h, eps: eps,
                              label: "\(p).output.LayerNorm"),
        ]
    }

    private func vitAttention(_ n: Int, _ w: ComponentWeights) throws -> [BatchStep] {
        let p = "encoder.layer.\(n)"
        return [
            kernels.layerNorm(act.hidden, residual: nil, gamma: try w["\(p).layernorm_before.weight"],
                              beta: try w["\(p).layernorm_before.bias"], into: act.tmp, rows: s, width: h, eps: eps,
                              label: "\(p).layernorm_before"),
        ] + (try selfAttention("\(p).attention.attention", input: act.tmp, w)) + [
            kernels.gemm(act.ctx, try w["\(p).attention.output.dense.weight"], try w["\(p).attention.output.dense.bias"],
                         act.hidden, m: s, n: h, k: h, .residual, label: "\(p).attention.output.dense"),
        ]
    }

    private func vitFeedForward(_ n: Int, _ w: ComponentWeights) throws -> [BatchStep] {
        let p = "encoder.layer.\(n)"
        let i = config.intermediateSize
        return [
            kernels.layerNorm(act.hidden, residual: nil, gamma: try w["\(p).layernorm_after.weight"],
                              beta: try w["\(p).layernorm_after.bias"], into: act.tmp, rows: s, width: h, eps: eps,
                              label: "\(p).layernorm_after"),
            kernels.gemm(act.tmp, try w["\(p).intermediate.dense.weight"], try w["\(p).intermediate.dense.bias"], act.ffn,
                         m: s, n: i, k: h, .gelu, label: "\(p).intermediate.dense"),
            kernels.gemm(act.ffn, try w["\(p).output.dense.weight"], try w["\(p).output.dense.bias"], act.hidden,
                         m: s, n: h, k: i, .residual, label: "\(p).output.dense"),
        ]
    }

    /// tanh(dense(hidden[0])): a GEMM with M = 1 reads only the first row.
    private func pooler(_ w: ComponentWeights) throws -> [BatchStep] {
        guard config.hasPooler else { return [] }
        return [kernels.gemm(act.hidden, try w["pooler.dense.weight"], try w["pooler.dense.bias"], act.pooled,
                             m: 1, n: h, k: h, .tanh, label: "pooler.dense")]
    }

    private func vitFinal(_ w: ComponentWeights) throws -> [BatchStep] {
        [kernels.layerNorm(act.hidden, residual: nil, gamma: try w["layernorm.weight"], beta: try w["layernorm.bias"],
                           into: act.hidden, rows: s, width: h, eps: eps, label: "layernorm")] + (try pooler(w))
    }
}
