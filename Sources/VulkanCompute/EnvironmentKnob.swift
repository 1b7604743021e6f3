import Foundation

/// A setting poolfault reads from the environment, parsed strictly. Every knob says what it
/// accepts, so the CLI can refuse a bad value up front, naming the variable and the values it
/// takes (exit 64), instead of trapping on it deep inside a run or silently ignoring it. Library
/// code reads a knob with `value`: an unset or unusable value gives the default there.
public struct EnvironmentKnob<Value: Sendable>: Sendable {
    public let name: String
    /// What the knob accepts, in words ("seconds, a number from 0.001 to 86400").
    public let expected: String
    let parse: @Sendable (String) -> Value?

    public init(_ name: String, expected: String, parse: @escaping @Sendable (String) -> Value?) {
        self.name = name
        self.expected = expected
        self.parse = parse
    }

    /// The parsed value, nil when unset; throws when set to something the knob does not take.
    public func read(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Value? {
        guard let text = environment[name] else { return nil }
        guard let value = parse(text.trimmingCharacters(in: .whitespaces)) else {
            throw EnvironmentKnobError(name: name, value: text, expected: expected)
        }
        return value
    }

    /// The value when set and valid, else nil (the CLI has refused invalid values by then).
    public var value: Value? { try? read() }

    /// A check of this knob alone, for a list of every knob a program reads.
    public var check: @Sendable ([String: String]) throws -> Void { { env in _ = try read(env) } }
}

/// An environment variable set to a value its knob does not take.
public struct EnvironmentKnobError: Error, Sendable, CustomStringConvertible {
    public let name: String
    public let value: String
    public let expected: String

    public var description: String {
        "\(name)=\"\(value)\" is not a valid value: expected \(expected) (or unset it for the default)"
    }
}

extension EnvironmentKnob where Value == Bool {
    /// 1/0, true/false, yes/no, on/off.
    public static func flag(_ name: String) -> EnvironmentKnob<Bool> {
        EnvironmentKnob(name, expected: "1 or 0 (also true/false, yes/no, on/off)") { text in
            switch text.lowercased() {
            case "1", "true", "yes", "on": return true
            case "0", "false", "no", "off", "": return false
            default: return nil
            }
        }
    }
}

extension EnvironmentKnob where Value == Int {
    /// A whole number in `range`.
    public static func integer(_ name: String, _ range: ClosedRange<Int>, unit: String = "") -> EnvironmentKnob<Int> {
        EnvironmentKnob(name, expected: "a whole number from \(range.lowerBound) to \(range.upperBound)\(unit)") { text in
            Int(text).flatMap { range.contains($0) ? $0 : nil }
        }
    }

    /// One of `values`.
    public static func oneOf(_ name: String, _ values: [Int]) -> EnvironmentKnob<Int> {
        EnvironmentKnob(name, expected: "one of \(values.map(String.init).joined(separator: ", "))") { text in
            Int(text).flatMap { values.contains($0) ? $0 : nil }
        }
    }
}

/// The knobs of this layer.
public enum VulkanKnobs {
    /// The deadline of every GPU wait, in seconds. Bounded so it converts to nanoseconds.
    public static let waitTimeout = EnvironmentKnob<Double>(
        "POOLFAULT_WAIT_TIMEOUT_S", expected: "seconds, a number from 0.001 to 86400") { text in
        Double(text).flatMap { $0.isFinite && $0 >= 0.001 && $0 <= 86_400 ? $0 : nil }
    }
    public static let stagedUploads = EnvironmentKnob.flag("POOLFAULT_STAGED_UPLOADS")
    public static let validate = EnvironmentKnob.flag("POOLFAULT_VALIDATE")
    /// 0: copy weights into device memory even where the driver could import them (a baseline).
    public static let hostImport = EnvironmentKnob.flag("POOLFAULT_HOST_IMPORT")
    /// Mesa's own knob, which poolfault sets on AVX-512 CPUs and reports.
    public static let lavapipeVectorWidth = EnvironmentKnob.oneOf("LP_NATIVE_VECTOR_WIDTH", [128, 256, 512])

    public static let checks: [@Sendable ([String: String]) throws -> Void] =
        [waitTimeout.check, stagedUploads.check, validate.check, hostImport.check, lavapipeVectorWidth.check]
}
