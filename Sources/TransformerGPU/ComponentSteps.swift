import Transformer
import VulkanCompute

/// The dispatches of each model component, in Hugging Face's order of operations
/// (docs/numerics.md). Reads and writes `ActivationBuffers.hidden`.
struct ComponentSteps {
    let config: ModelConfig
    let kernels: GPUKernels
    let act: ActivationBuffers
    /// Checksummed Linears: where each Linear's check reports (nil: no checks).
    var checks: (buffer: DeviceBuffer, layout: GEMMCheck.Layout)? = nil

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
    private var i: Int { config.intermediateSize }
    private var eps: Float { config.layerNormEps }

    /// y = x · Wᵀ + b through the named Linear's weight and bias.
    private func linear(_ name: String, _ w: ComponentWeights, _ x: DeviceBuffer, _ y: DeviceBuffer,
                        m: Int, n: Int, k: Int, _ epilogue: GEMMEpilogue = .none) throws -> [BatchStep] {
        // `tmp` is free whenever a residual GEMM runs (its LayerNorm output was consumed).
        let weight = "\(name).weight"
        var check: (out: DeviceBuffer, base: Int, gatherInput: Bool)?
        if let checks, w.checksums[weight] != nil, let base = checks.layout.base[weight] {
            // The query's check gathers the input sums the key's and value's tests use (same input, same shard).
            check = (checks.buffer, base, checks.layout.inputOf[weight] == nil)
        }
        return try kernels.gemm(x, try w.gemmWeight(weight, pitch: kernels.family.weightPitch(k: k)), try w["\(name).bias"],
                                y, m: m, n: n, k: k, epilogue,
                                scratch: epilogue == .residual ? act.tmp : nil, check: check, label: name)
    }

    /// y = LayerNorm(x (+ residual)) with the named LayerNorm's gamma and beta, over all tokens.
    private func norm(_ name: String, _ w: ComponentWeights, _ x: DeviceBuffer, residual: DeviceBuffer? = nil,
                      into y: DeviceBuffer) throws -> [BatchStep] {
        kernels.layerNorm(x, residual: residual, gamma: try w["\(name).weight"], beta: try w["\(name).bias"], into: y,
                          rows: s, width: h, eps: eps, label: name)
    }

    private func bertEmbeddings(_ w: ComponentWeights) throws -> [BatchStep] {
        guard let kernel = kernels.bertEmbeddings, let ids = act.ids, let types = act.types else { return [] }
        let gather = Dispatch(kernel, buffers: [ids, types, try w["embeddings.word_embeddings.weight"],
                                                try w["embeddings.position_embeddings.weight"],
                                                try w["embeddings.token_type_embeddings.weight"], act.hidden],
                              push: [UInt32(h)], groups: (UInt32(s), 1, 1), label: "embeddings.gather")
        return [.dispatch(gather)] + (try norm("embeddings.LayerNorm", w, act.hidden, into: act.hidden))
    }

    private func vitEmbeddings(_ w: ComponentWeights) throws -> [BatchStep] {
        guard let patchesKernel = kernels.vitPatches, let assemble = kernels.vitAssemble,
              let pixels = act.pixels, let patches = act.patches, let patchOut = act.patchOut else { return [] }
        let grid = config.patchesPerSide * config.patchesPerSide
        let vector = config.patchVectorSize
        let im2col = Dispatch(patchesKernel, buffers: [pixels, patches],
                              push: [UInt32(config.numChannels), UInt32(config.imageSize), UInt32(config.patchSize)],
                              groups: (groupCount(grid * vector, 64), 1, 1), label: "embeddings.patches")
        let place = Dispatch(assemble, buffers: [patchOut, try w["embeddings.cls_token"],
                                                 try w["embeddings.position_embeddings"], act.hidden],
                             push: [UInt32(s), UInt32(h)], groups: (groupCount(s * h, 64), 1, 1), label: "embeddings.assemble")
        return [.dispatch(im2col)]
            + (try linear("embeddings.patch_embeddings.projection", w, patches, patchOut, m: grid, n: h, k: vector))
            + [.dispatch(place)]
    }

    /// q, k, v projections of `input`, then the attention core into `ctx`.
    private func selfAttention(_ prefix: String, input: DeviceBuffer, _ w: ComponentWeights) throws -> [BatchStep] {
        var steps: [BatchStep] = []
        for (name, out) in [("query", act.q), ("key", act.k), ("value", act.v)] {
            steps += try linear("\(prefix).\(name)", w, input, out, m: s, n: h, k: h)
        }
        steps.append(kernels.attentionCore(q: act.q, k: act.k, v: act.v, mask: act.mask, into: act.ctx, config: config, label: "\(prefix).core"))
        return steps
    }

    /// BERT is post-LN: x = LN(dense(attn(x)) + x).
    private func bertAttention(_ n: Int, _ w: ComponentWeights) throws -> [BatchStep] {
        let p = "encoder.layer.\(n).attention"
        return try selfAttention("\(p).self", input: act.hidden, w)
            + (try linear("\(p).output.dense", w, act.ctx, act.tmp, m: s, n: h, k: h))
            + (try norm("\(p).output.LayerNorm", w, act.tmp, residual: act.hidden, into: act.hidden))
    }

    /// x = LN(output.dense(gelu(intermediate.dense(x))) + x).
    private func bertFeedForward(_ n: Int, _ w: ComponentWeights) throws -> [BatchStep] {
        let p = "encoder.layer.\(n)"
        return try linear("\(p).intermediate.dense", w, act.hidden, act.ffn, m: s, n: i, k: h, .gelu)
            + (try linear("\(p).output.dense", w, act.ffn, act.tmp, m: s, n: h, k: i))
            + (try norm("\(p).output.LayerNorm", w, act.tmp, residual: act.hidden, into: act.hidden))
    }

    /// ViT is pre-LN: x = x + dense(attn(LN(x))), the residual added in the GEMM's store.
    private func vitAttention(_ n: Int, _ w: ComponentWeights) throws -> [BatchStep] {
        let p = "encoder.layer.\(n)"
        return try norm("\(p).layernorm_before", w, act.hidden, into: act.tmp)
            + (try selfAttention("\(p).attention.attention", input: act.tmp, w))
            + (try linear("\(p).attention.output.dense", w, act.ctx, act.hidden, m: s, n: h, k: h, .residual))
    }

    /// x = x + output.dense(gelu(intermediate.dense(LN(x)))).
    private func vitFeedForward(_ n: Int, _ w: ComponentWeights) throws -> [BatchStep] {
        let p = "encoder.layer.\(n)"
        return try norm("\(p).layernorm_after", w, act.hidden, into: act.tmp)
            + (try linear("\(p).intermediate.dense", w, act.tmp, act.ffn, m: s, n: i, k: h, .gelu))
            + (try linear("\(p).output.dense", w, act.ffn, act.hidden, m: s, n: h, k: i, .residual))
    }

    /// tanh(dense(hidden[0])): a GEMM with M = 1 reads only the first row.
    private func pooler(_ w: ComponentWeights) throws -> [BatchStep] {
        guard config.hasPooler else { return [] }
        return try linear("pooler.dense", w, act.hidden, act.pooled, m: 1, n: h, k: h, .tanh)
    }

    /// ViT's final LayerNorm over every token (it becomes last_hidden_state), then the pooler.
    private func vitFinal(_ w: ComponentWeights) throws -> [BatchStep] {
        try norm("layernorm", w, act.hidden, into: act.hidden) + (try pooler(w))
    }
}
