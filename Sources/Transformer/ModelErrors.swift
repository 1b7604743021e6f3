// Typed errors of the Transformer target. Messages are one line, name the file or tensor,
// and say what to do, because the CLI prints them as they are.

/// Bad model data or input data. CLI exit 65, except `.unreadable` (exit 2).
public enum ModelDataError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file exists (or should) but the OS would not give us its bytes.
    case unreadable(path: String, reason: String)
    /// A file we were asked to write (an export) could not be written.
    case unwritable(path: String, reason: String)
    /// A file the model directory must contain is not there.
    case missingFile(path: String, what: String)
    /// config.json is not valid JSON or lacks/garbles a field.
    case invalidConfig(path: String, reason: String)
    /// config.json's model_type is not one we implement.
    case unsupportedModelType(path: String, modelType: String)
    /// config.json asks for an activation other than exact-erf GELU.
    case unsupportedActivation(path: String, activation: String)
    /// The safetensors header or layout is broken.
    case malformedSafetensors(path: String, reason: String)
    /// A tensor the config needs is absent.
    case missingTensor(path: String, name: String)
    /// A tensor has the wrong shape for the config.
    case shapeMismatch(path: String, name: String, expected: [Int], found: [Int])
    /// A tensor the config needs is stored in a dtype we cannot convert to F32.
    case unsupportedDtype(path: String, name: String, dtype: String)
    /// A weight is NaN, infinite or absurdly large (a corrupt file).
    case badWeightValue(path: String, name: String, index: Int, value: Float)
    /// An input (token ids, mask, pixels) is malformed; `source` names the file or "input".
    case invalidInput(source: String, reason: String)

    /// True for the one case the CLI reports as "the tool could not run" (exit 2).
    public var isUnreadable: Bool {
        if case .unreadable = self { return true }
        return false
    }

    /// True when the OS refused a read or a write (CLI exit 2) rather than the data being bad.
    public var isIOFailure: Bool {
        switch self {
        case .unreadable, .unwritable: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "cannot read \(path): \(reason); check that it exists and is readable"
        case let .unwritable(path, reason):
            return "cannot write \(path): \(reason); check the folder exists and is writable"
        case let .missingFile(path, what):
            return "\(path) not found: \(what)"
        case let .invalidConfig(path, reason):
            return "\(path): \(reason); fix the config or use a Hugging Face config.json"
        case let .unsupportedModelType(path, modelType):
            return "\(path): model_type \"\(modelType)\" is not supported; use a \"bert\" or \"vit\" model"
        case let .unsupportedActivation(path, activation):
            return "\(path): hidden_act \"\(activation)\" is not supported; only exact-erf \"gelu\" is implemented"
        case let .malformedSafetensors(path, reason):
            return "\(path): malformed safetensors file: \(reason); re-export or re-download it"
        case let .missingTensor(path, name):
            return "\(path): tensor \"\(name)\" is missing; the weights do not match the model config (config.json)"
        case let .shapeMismatch(path, name, expected, found):
            return "\(path): tensor \"\(name)\" has shape \(found), expected \(expected) from config.json"
        case let .unsupportedDtype(path, name, dtype):
            return "\(path): tensor \"\(name)\" has dtype \(dtype); only F32, F16, BF16 and F64 are supported"
        case let .badWeightValue(path, name, index, value):
            return "\(path): tensor \"\(name)\" holds \(value) at element \(index); weights must be finite and within ±\(Int(WeightTensor.magnitudeLimit)): the file is corrupt, re-export or re-download it"
        case let .invalidInput(source, reason):
            return "\(source): invalid model input: \(reason)"
        }
    }
}

/// A request that does not fit the model: these come from flags (CLI exit 64).
public enum ModelUsageError: Error, CustomStringConvertible, Sendable, Equatable {
    case unknownModel(name: String, known: [String])
    case invalidLayerCount(requested: Int, available: Int)
    case invalidSequenceLength(requested: Int, maximum: Int)
    case sequenceLengthNotApplicable(model: String)
    case invalidShardCount(requested: Int, maximum: Int, type: String)
    case unknownShardType(String)
    case invalidConfig(String)
    /// An activation state handed to a component does not have the shapes it needs.
    case stateMismatch(component: String, reason: String)

    public var description: String {
        switch self {
        case let .unknownModel(name, known):
            return "unknown model \"\(name)\"; known models: \(known.joined(separator: ", "))"
        case let .invalidLayerCount(requested, available):
            return "layer count \(requested) out of range; choose 1...\(available)"
        case let .invalidSequenceLength(requested, maximum):
            return "sequence length \(requested) out of range; choose 1...\(maximum)"
        case let .sequenceLengthNotApplicable(model):
            return "\(model) has a fixed sequence length (from its image size); drop the sequence-length option"
        case let .invalidShardCount(requested, maximum, type):
            return "shard count \(requested) impossible for shard type \"\(type)\"; choose 1...\(maximum)"
        case let .unknownShardType(name):
            return "unknown shard type \"\(name)\"; use one of: \(ShardType.allCases.map(\.rawValue).joined(separator: ", "))"
        case let .invalidConfig(reason):
            return "invalid model configuration: \(reason)"
        case let .stateMismatch(component, reason):
            return "activation state does not fit \(component): \(reason)"
        }
    }
}
