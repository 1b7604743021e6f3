// CPUReference: the fp32 forward that every other backend is checked against, and the
// "WebNN" backend of the pool. Follows docs/numerics.md:
// BERT post-LN (embeddings LN, attention → add → LN, FFN → add → LN, tanh pooler);
// ViT pre-LN (patch GEMM + CLS + positions, x += attn(LN(x)), x += FFN(LN(x)), final LN,
// tanh pooler).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs model components on the CPU (Linear layers on oneDNN's matmul, the rest in
/// CVectorMath). Holds only immutable weights: every call brings its own scratch, so one instance
/// serves many threads.
public final class CPUReference: Sendable {
    /// What runs the Linear layers, for reports: "oneDNN 2.6.3 matmul, brg:avx512_core, 2
    /// threads", or OpenBLAS where oneDNN has no engine.
    public static var linearKernels: String {
        LinearEngine.shared?.description ?? "OpenBLAS sgemm (oneDNN made no CPU engine)"
    }

    /// The threads the Linear layers run on (OpenMP's pool: OMP_NUM_THREADS, or every core).
    public static var threads: Int { LinearEngine.threads }

    public let config: ModelConfig
    public let weights: WeightStore
    private let resolved: ResolvedWeights

    /// Resolves every weight `weights.config` needs; throws `ModelDataError` if one is missing
    /// or mis-sized.
    public init(weights: WeightStore) throws {
        try weights.config.validate()
        self.config = weights.config
        self.weights = weights
        resolved = try ResolvedWeights(weights)
    }

    /// The whole model: embeddings, every layer, pooler.
    public func forward(_ input: ModelInput) throws -> ModelOutput {
        var state = try ActivationState.initial(input, config: config)
        try run(config.components, state: &state)
        return state.output
    }

    /// Runs one component on `state` (the embeddings read `state.input`; the others need
    /// the hidden state the previous component left).
    public func run(_ component: ModelComponent, state: inout ActivationState) throws {
        try run([component], state: &state)
    }

    /// Runs consecutive components (a shard) with one set of scratch buffers.
    public func run(_ components: [ModelComponent], state: inout ActivationState) throws {
        let workspace = Workspace(config: config)
        for component in components {
            try check(component, state: state)
            // Move the hidden array out so it is uniquely referenced while we write it.
            var hidden = state.hidden
            state.hidden = []
            defer { state.hidden = hidden }
            switch component {
            case .embeddings:
                hidden = [Float](repeating: 0, count: config.sequenceLength * config.hiddenSize)
                try embeddings(state.input, into: &hidden, workspace: workspace)
            case let .attention(layer):
                attention(layer, hidden: &hidden, mask: state.additiveMask, workspace: workspace)
            case let .feedForward(layer):
                feedForward(layer, hidden: &hidden, workspace: workspace)
            case .pooler:
                state.pooled = pooler(hidden: &hidden)
            }
        }
    }

    /// Throws unless `component` belongs to this model and `state` has the shapes it needs.
    private func check(_ component: ModelComponent, state: ActivationState) throws {
        func fail(_ reason: String) -> ModelUsageError { .stateMismatch(component: component.id, reason: reason) }
        guard config.components.contains(component) else { throw fail("\(config.name) has no such component") }
        let s = config.sequenceLength, h = config.hiddenSize
        guard state.sequenceLength == s, state.hiddenSize == h, state.additiveMask.count == s else {
            throw fail("state is \(state.sequenceLength)×\(state.hiddenSize) with \(state.additiveMask.count) mask entries, model needs \(s)×\(h)")
        }
        if component == .embeddings {
            try state.input.validate(for: config)
        } else if state.hidden.count != s * h {
            throw fail("hidden state has \(state.hidden.count) values, expected \(s * h) (run the embeddings first)")
        }
    }

    // MARK: - Components

    private func embeddings(_ input: ModelInput, into hidden: inout [Float], workspace: Workspace) throws {
        let s = config.sequenceLength, h = config.hiddenSize
        hidden.withUnsafeMutableBufferPointer { buffer in
            guard let x = buffer.baseAddress else { return }
            switch (resolved.embeddings, input) {
            case let (.bert(word, position, tokenType, norm), .tokens(ids, _, types)):
                let w = word.storage.pointer, p = position.storage.pointer, t = tokenType.storage.pointer
                for row in 0..<s {
                    let wordRow = w + Int(ids[row]) * h, typeRow = t + Int(types[row]) * h
                    let positionRow = p + row * h  // position ids start at 0
                    let out = x + row * h
                    for i in 0..<h { out[i] = (wordRow[i] + typeRow[i]) + positionRow[i] }
                }
                norm.apply(x, rows: s, cols: h, eps: config.layerNormEps, into: x)
            case let (.vit(cls, position, projection), .pixels(pixels)):
                pixels.withUnsafeBufferPointer { image in
                    guard let image = image.baseAddress else { return }
                    im2col(image, into: workspace.patches)
                }
                // Patch p = gy·n + gx goes to row p + 1; row 0 is the CLS token.
                projection.apply(workspace.patches, rows: s - 1, into: x + h, ldy: h)
                x.update(from: cls.storage.pointer, count: h)
                CPUKernels.addInPlace(x, position.storage.pointer, count: s * h)
            default:
                break  // check(_:state:) validated the input's kind against the model
            }
        }
    }

    /// Patches as rows of a GEMM input: row p = gy·n + gx, element (c, ky, kx) at
    /// c·p² + ky·p + kx, matching the Conv2d weight's [out, c, kh, kw] layout.
    private func im2col(_ image: UnsafePointer<Float>, into patches: UnsafeMutablePointer<Float>) {
        let n = config.patchesPerSide, size = config.patchSize, side = config.imageSize
        let vector = config.patchVectorSize
        for gy in 0..<n {
            for gx in 0..<n {
                let row = patches + (gy * n + gx) * vector
                for c in 0..<config.numChannels {
                    for ky in 0..<size {
                        let source = image + c * side * side + (gy * size + ky) * side + gx * size
                        (row + c * size * size + ky * size).update(from: source, count: size)
                    }
                }
            }
        }
    }

    private func attention(_ layer: Int, hidden: inout [Float], mask: [Float], workspace: Workspace) {
        let s = config.sequenceLength, h = config.hiddenSize
        let weights = resolved.attention[layer]
        let w = workspace
        hidden.withUnsafeMutableBufferPointer { buffer in
            guard let x = buffer.baseAddress else { return }
            mask.withUnsafeBufferPointer { maskBuffer in
                let source = blockInput(x, norm: weights.norm, workspace: w)
                weights.query.apply(source, rows: s, into: w.q)
                weights.key.apply(source, rows: s, into: w.k)
                weights.value.apply(source, rows: s, into: w.v)
                // ViT has no mask: skip adding zeros.
                let additiveMask = config.kind == .bert ? maskBuffer.baseAddress : nil
                CPUKernels.attention(q: w.q, k: w.k, v: w.v, sequence: s, hidden: h, heads: config.numHeads,
                                     additiveMask: additiveMask, scratch: w.attention, into: w.context)
                weights.output.apply(w.context, rows: s, into: x, accumulate: true)
                closeBlock(x, norm: weights.norm)
            }
        }
    }

    private func feedForward(_ layer: Int, hidden: inout [Float], workspace: Workspace) {
        let s = config.sequenceLength
        let weights = resolved.feedForward[layer]
        let w = workspace
        hidden.withUnsafeMutableBufferPointer { buffer in
            guard let x = buffer.baseAddress else { return }
            let source = blockInput(x, norm: weights.norm, workspace: w)
            weights.intermediate.apply(source, rows: s, into: w.intermediate)
            CPUKernels.geluInPlace(w.intermediate, count: s * config.intermediateSize)
            weights.output.apply(w.intermediate, rows: s, into: x, accumulate: true)
            closeBlock(x, norm: weights.norm)
        }
    }

    /// A block's input: ViT normalises x first (pre-LN) into scratch; BERT uses x itself.
    private func blockInput(_ x: UnsafeMutablePointer<Float>, norm: NormWeights, workspace w: Workspace) -> UnsafePointer<Float> {
        guard config.kind == .vit else { return UnsafePointer(x) }
        norm.apply(x, rows: config.sequenceLength, cols: config.hiddenSize, eps: config.layerNormEps, into: w.scratch)
        return UnsafePointer(w.scratch)
    }

    /// A block's end, the residual already added by the output Linear (x += block output, in
    /// the GEMM's store): BERT's post-LN, in place; ViT's blocks end there.
    private func closeBlock(_ x: UnsafeMutablePointer<Float>, norm: NormWeights) {
        guard config.kind == .bert else { return }
        norm.apply(x, rows: config.sequenceLength, cols: config.hiddenSize, eps: config.layerNormEps, into: x)
    }

    /// ViT: final layernorm over every token. Both: tanh(pooler.dense(hidden[0])) if present.
    private func pooler(hidden: inout [Float]) -> [Float]? {
        let s = config.sequenceLength, h = config.hiddenSize
        return hidden.withUnsafeMutableBufferPointer { buffer -> [Float]? in
            guard let x = buffer.baseAddress else { return nil }
            if let norm = resolved.pooler.finalNorm {
                norm.apply(x, rows: s, cols: h, eps: config.layerNormEps, into: x)
            }
            guard let dense = resolved.pooler.dense else { return nil }
            var pooled = [Float](repeating: 0, count: h)
            pooled.withUnsafeMutableBufferPointer { out in
                guard let out = out.baseAddress else { return }
                dense.apply(x, rows: 1, into: out)
                for i in 0..<h { out[i] = tanhf(out[i]) }
            }
            return pooled
        }
    }
}

/// Scratch for one run of components, sized for the model; freed when the run ends.
private final class Workspace {
    let q, k, v, context, scratch: UnsafeMutablePointer<Float>
    let intermediate: UnsafeMutablePointer<Float>
    let attention: UnsafeMutablePointer<Float>
    let patches: UnsafeMutablePointer<Float>
    private let all: [UnsafeMutablePointer<Float>]

    init(config: ModelConfig) {
        let s = config.sequenceLength, h = config.hiddenSize
        func make(_ count: Int) -> UnsafeMutablePointer<Float> {
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            pointer.initialize(repeating: 0, count: max(count, 1))
            return pointer
        }
        q = make(s * h); k = make(s * h); v = make(s * h)
        context = make(s * h); scratch = make(s * h)
        intermediate = make(s * config.intermediateSize)
        attention = make(CPUKernels.attentionScratch(sequence: s, hidden: h, heads: config.numHeads))
        patches = make(config.kind == .vit ? (s - 1) * config.patchVectorSize : 0)
        all = [q, k, v, context, scratch, intermediate, attention, patches]
    }

    deinit {
        for pointer in all { pointer.deallocate() }
    }
}
