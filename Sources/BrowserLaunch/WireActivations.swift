import BrowserProtocol
import Transformer

/// An `ActivationState` as named wire tensors, both ways. The pool sends what a shard reads
/// (the mask and the hidden state; the input only to a shard that starts with the embeddings)
/// and the worker returns what it writes (the hidden state, and the pooled output).
public enum WireActivations {
    /// What the pool sends for a shard.
    public static func tensors(for state: ActivationState, startsWithEmbeddings: Bool) -> [WireTensor] {
        let s = state.sequenceLength, h = state.hiddenSize
        var out = [WireTensor(name: "attention_mask", shape: [s], values: state.additiveMask)]
        if startsWithEmbeddings {
            switch state.input {
            case let .tokens(ids, mask, types):
                // Token ids and types are below 2^24 (the vocabulary is checked), exact as floats.
                out.append(WireTensor(name: "input_ids", shape: [ids.count], values: ids.map(Float.init)))
                out.append(WireTensor(name: "input_mask", shape: [mask.count], values: mask.map(Float.init)))
                out.append(WireTensor(name: "token_type_ids", shape: [types.count], values: types.map(Float.init)))
            case let .pixels(values):
                out.append(WireTensor(name: "pixel_values", shape: [values.count], values: values))
            }
        } else {
            out.append(WireTensor(name: "hidden", shape: [s, h], values: state.hidden))
        }
        if let pooled = state.pooled { out.append(WireTensor(name: "pooled", shape: [pooled.count], values: pooled)) }
        return out
    }

    /// The worker's side: the state a shard runs on. Shapes are checked against `config`.
    public static func state(from tensors: [WireTensor], config: ModelConfig, startsWithEmbeddings: Bool) throws -> ActivationState {
        let named = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let s = config.sequenceLength, h = config.hiddenSize
        func take(_ name: String, count: Int) throws -> [Float] {
            guard let t = named[name] else { throw ModelUsageError.stateMismatch(component: "request", reason: "the request has no '\(name)' tensor") }
            guard t.values.count == count else {
                throw ModelUsageError.stateMismatch(component: "request", reason: "'\(name)' has \(t.values.count) values, expected \(count)")
            }
            return t.values
        }
        let mask = try take("attention_mask", count: s)
        var input = ModelInput.pixels([])
        var hidden: [Float] = []
        if startsWithEmbeddings {
            switch config.kind {
            case .bert:
                let ints = { (name: String) throws -> [Int32] in try take(name, count: s).map { v in
                    guard v.rounded() == v, abs(v) < 16_777_216 else { throw ModelUsageError.stateMismatch(component: "request", reason: "'\(name)' holds \(v), not an integer") }
                    return Int32(v)
                } }
                input = .tokens(inputIds: try ints("input_ids"), attentionMask: try ints("input_mask"), tokenTypeIds: try ints("token_type_ids"))
                try input.validate(for: config)
            case .vit:
                input = .pixels(try take("pixel_values", count: config.pixelCount))
            }
        } else {
            hidden = try take("hidden", count: s * h)
        }
        let pooled = named["pooled"].map(\.values)
        return ActivationState(input: input, sequenceLength: s, hiddenSize: h, hidden: hidden, additiveMask: mask, pooled: pooled)
    }

    /// What the worker returns after a shard.
    public static func tensors(result state: ActivationState) -> [WireTensor] {
        var out = [WireTensor(name: "hidden", shape: [state.sequenceLength, state.hiddenSize], values: state.hidden)]
        if let pooled = state.pooled { out.append(WireTensor(name: "pooled", shape: [pooled.count], values: pooled)) }
        return out
    }

    /// The pool's side: applies a worker's result to `state` (only once it is complete).
    public static func apply(_ tensors: [WireTensor], to state: inout ActivationState) throws {
        guard let hidden = tensors.first(where: { $0.name == "hidden" }),
              hidden.values.count == state.sequenceLength * state.hiddenSize else {
            throw ModelUsageError.stateMismatch(component: "request", reason: "the worker's reply has no hidden state of \(state.sequenceLength)×\(state.hiddenSize)")
        }
        let pooled = tensors.first { $0.name == "pooled" }
        state.hidden = hidden.values
        if let pooled { state.pooled = pooled.values }
    }
}
