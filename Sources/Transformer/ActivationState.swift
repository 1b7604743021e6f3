// ActivationState: everything that flows between components, as plain arrays so it can be
// copied to another device or context between shards. ModelOutput: what a forward returns.

/// The running state of one inference. The input stays in the state because the embeddings
/// component consumes it; later components read and write `hidden`.
public struct ActivationState: Sendable, Codable, Hashable {
    public var input: ModelInput
    public var sequenceLength: Int
    public var hiddenSize: Int
    /// [sequenceLength × hiddenSize] row-major; empty until the embeddings have run.
    public var hidden: [Float]
    /// Per key position: 0 to attend, -Float.greatestFiniteMagnitude (= finfo(float32).min,
    /// as Hugging Face uses) to mask. All zeros for ViT.
    public var additiveMask: [Float]
    /// tanh(pooler.dense(hidden[0])), set by the pooler component when the model has one.
    public var pooled: [Float]?

    /// The additive value for a masked key.
    public static let maskedValue: Float = -Float.greatestFiniteMagnitude

    public init(input: ModelInput, sequenceLength: Int, hiddenSize: Int, hidden: [Float],
                additiveMask: [Float], pooled: [Float]?) {
        self.input = input
        self.sequenceLength = sequenceLength
        self.hiddenSize = hiddenSize
        self.hidden = hidden
        self.additiveMask = additiveMask
        self.pooled = pooled
    }

    /// The state before the embeddings: input validated against `config`, mask prepared
    /// ((1 - mask) · finfo.min for BERT), no hidden state yet.
    public static func initial(_ input: ModelInput, config: ModelConfig) throws -> ActivationState {
        try input.validate(for: config)
        let mask: [Float]
        switch input {
        case let .tokens(_, attentionMask, _):
            mask = attentionMask.map { $0 == 0 ? maskedValue : 0 }
        case .pixels:
            mask = [Float](repeating: 0, count: config.sequenceLength)
        }
        return ActivationState(input: input, sequenceLength: config.sequenceLength, hiddenSize: config.hiddenSize,
                               hidden: [], additiveMask: mask, pooled: nil)
    }

    /// The hidden state and pooled output as they stand.
    public var output: ModelOutput {
        ModelOutput(lastHiddenState: hidden, pooledOutput: pooled, sequenceLength: sequenceLength, hiddenSize: hiddenSize)
    }
}

/// The result of a forward: Hugging Face's `last_hidden_state` (batch 1, flattened) and
/// `pooler_output` (nil when the model has no pooler).
public struct ModelOutput: Sendable, Codable, Hashable {
    /// [sequenceLength × hiddenSize] row-major.
    public var lastHiddenState: [Float]
    /// [hiddenSize].
    public var pooledOutput: [Float]?
    public var sequenceLength: Int
    public var hiddenSize: Int

    public init(lastHiddenState: [Float], pooledOutput: [Float]?, sequenceLength: Int, hiddenSize: Int) {
        self.lastHiddenState = lastHiddenState
        self.pooledOutput = pooledOutput
        self.sequenceLength = sequenceLength
        self.hiddenSize = hiddenSize
    }

    /// Compares with a reference output: last_hidden_state, and the pooled output when both have one.
    public func compared(to reference: ModelOutput) -> (lastHiddenState: NumericComparison, pooled: NumericComparison?) {
        let hidden = NumericComparison(actual: lastHiddenState, reference: reference.lastHiddenState)
        var pooled: NumericComparison?
        if let mine = pooledOutput, let theirs = reference.pooledOutput {
            pooled = NumericComparison(actual: mine, reference: theirs)
        } else if (pooledOutput == nil) != (reference.pooledOutput == nil) {
            pooled = NumericComparison(actual: pooledOutput ?? [], reference: reference.pooledOutput ?? [Float.nan])
        }
        return (hidden, pooled)
    }
}
