import Foundation

/// A JSON encoder that keeps members in the order they were encoded.
///
/// Why not Foundation's JSONEncoder: on Linux (swift-foundation, Swift 6) it stores each
/// object in a Dictionary, so without `.sortedKeys` the member order changes from process to
/// process (hash seeds are random), and with it the order is alphabetical. The report promises
/// an order — scenarios in run order, phases in phase order, fields as declared — and files
/// that diff cleanly between runs. So this encoder builds an ordered tree and prints it.
///
/// It mirrors the JSONEncoder behaviour the report relies on, so Foundation's JSONDecoder
/// (with `.convertFromSnakeCase`) reads its output back:
/// - keys are converted to snake_case with Foundation's algorithm, except the keys of a Swift
///   `[String: X]`, which JSONEncoder and JSONDecoder leave alone (those are sorted instead,
///   their own order being hash order);
/// - non-finite floats become strings instead of failing the whole report (see
///   `NonFiniteStrings`);
/// - output is pretty printed like Python's `json.dumps(indent=2)`, as the original tool's file.
struct OrderedJSONEncoder {
    /// What a non-finite Double or Float is written as. The model clamps the values that may
    /// legitimately be infinite (NumericsRecord); this is the safety net for everything else,
    /// so one stray infinity cannot cost the whole report.
    struct NonFiniteStrings: Sendable {
        var positiveInfinity = "inf", negativeInfinity = "-inf", nan = "nan"
    }

    var convertToSnakeCase = true
    var nonFinite = NonFiniteStrings()

    func encode<T: Encodable>(_ value: T) throws -> Data {
        let root = JSONNode()
        try encodeValue(value, into: root, codingPath: [], options: self)
        var text = ""
        root.write(to: &text, indent: 0)
        text += "\n"
        return Data(text.utf8)
    }

    func key(_ name: String) -> String { convertToSnakeCase ? Self.snakeCase(name) : name }

    func number<F: BinaryFloatingPoint & LosslessStringConvertible>(_ value: F) -> JSONNode.Kind {
        if value.isNaN { return .string(nonFinite.nan) }
        if value.isInfinite { return .string(value > 0 ? nonFinite.positiveInfinity : nonFinite.negativeInfinity) }
        // Swift's description is the shortest text that reads back to the same value, and it is
        // valid JSON ("0.43170619010925293", "1.3113021850585938e-05", "100.0").
        return .number(value.description)
    }

    /// Foundation's `convertToSnakeCase`, ported word for word so JSONDecoder's
    /// `convertFromSnakeCase` is its inverse: "maxAbsError" → "max_abs_error",
    /// "relativeL2" → "relative_l2", "myURLKey" → "my_url_key"; snake_case stays as it is.
    static func snakeCase(_ key: String) -> String {
        guard !key.isEmpty else { return key }
        var words: [Range<String.Index>] = []
        var wordStart = key.startIndex
        var searchRange = key.index(after: wordStart)..<key.endIndex
        while let upper = key.rangeOfCharacter(from: .uppercaseLetters, options: [], range: searchRange) {
            words.append(wordStart..<upper.lowerBound)
            searchRange = upper.lowerBound..<searchRange.upperBound
            guard let lower = key.rangeOfCharacter(from: .lowercaseLetters, options: [], range: searchRange) else {
                wordStart = searchRange.lowerBound
                break
            }
            let afterCapital = key.index(after: upper.lowerBound)
            if lower.lowerBound == afterCapital {
                wordStart = upper.lowerBound
            } else {
                let beforeLower = key.index(before: lower.lowerBound)
                words.append(upper.lowerBound..<beforeLower)
                wordStart = beforeLower
            }
            searchRange = lower.upperBound..<searchRange.upperBound
        }
        words.append(wordStart..<searchRange.upperBound)
        return words.map { key[$0].lowercased() }.joined(separator: "_")
    }
}

/// One value of the tree. A class, so containers handed out by the encoder can fill a node
/// after it has been linked into its parent.
final class JSONNode {
    enum Kind { case unset, null, bool(Bool), number(String), string(String), array, object }

    var kind: Kind = .unset
    var elements: [JSONNode] = []
    var keys: [String] = []
    var members: [String: JSONNode] = [:]
    /// A Swift `[String: X]`: keys stay verbatim and are printed sorted.
    var isDictionary = false

    func becomeObject() {
        if case .object = kind { return }
        kind = .object; keys = []; members = [:]
    }

    func becomeArray() {
        if case .array = kind { return }
        kind = .array; elements = []
    }

    /// The member for `key`; encoding a key twice replaces the value but keeps its first place.
    func member(_ key: String) -> JSONNode {
        becomeObject()
        if let existing = members[key] {
            existing.reset()
            return existing
        }
        let node = JSONNode()
        keys.append(key)
        members[key] = node
        return node
    }

    func appendElement() -> JSONNode {
        becomeArray()
        let node = JSONNode()
        elements.append(node)
        return node
    }

    private func reset() {
        kind = .unset; elements = []; keys = []; members = [:]; isDictionary = false
    }

    func write(to out: inout String, indent: Int) {
        switch kind {
        case .unset: out += "{}"  // a value that encoded nothing: JSONEncoder writes {} too
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .number(let text): out += text
        case .string(let text): Self.writeString(text, to: &out)
        case .array:
            guard !elements.isEmpty else { out += "[]"; return }
            out += "[\n"
            for (i, element) in elements.enumerated() {
                out += String(repeating: " ", count: indent + 2)
                element.write(to: &out, indent: indent + 2)
                out += i == elements.count - 1 ? "\n" : ",\n"
            }
            out += String(repeating: " ", count: indent) + "]"
        case .object:
            guard !keys.isEmpty else { out += "{}"; return }
            let order = isDictionary ? keys.sorted() : keys
            out += "{\n"
            for (i, key) in order.enumerated() {
                out += String(repeating: " ", count: indent + 2)
                Self.writeString(key, to: &out)
                out += ": "
                members[key]?.write(to: &out, indent: indent + 2)
                out += i == order.count - 1 ? "\n" : ",\n"
            }
            out += String(repeating: " ", count: indent) + "}"
        }
    }

    /// RFC 8259 string: Foundation's own escaping (quote, backslash and control characters;
    /// slashes and non-ASCII written as they are, in UTF-8).
    static func writeString(_ text: String, to out: inout String) {
        let data = (try? JSONSerialization.data(withJSONObject: text, options: [.fragmentsAllowed, .withoutEscapingSlashes]))
        out += data.map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
    }
}

/// Marks `[String: X]`, whose keys JSONEncoder/JSONDecoder take verbatim.
private protocol StringKeyedDictionary {}
extension Dictionary: StringKeyedDictionary where Key == String {}

private func encodeValue<T: Encodable>(_ value: T, into node: JSONNode, codingPath: [any CodingKey],
                                       options: OrderedJSONEncoder) throws {
    if let url = value as? URL {  // JSONEncoder writes a URL as its string, not as {"relative": …}
        node.kind = .string(url.absoluteString)
        return
    }
    if value is any StringKeyedDictionary { node.isDictionary = true }
    try value.encode(to: NodeEncoder(node: node, codingPath: codingPath, options: options))
}

private struct NodeEncoder: Encoder {
    let node: JSONNode
    let codingPath: [any CodingKey]
    let options: OrderedJSONEncoder
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.becomeObject()
        return KeyedEncodingContainer(KeyedContainer<Key>(node: node, codingPath: codingPath, options: options))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        node.becomeArray()
        return UnkeyedContainer(node: node, codingPath: codingPath, options: options)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleContainer(node: node, codingPath: codingPath, options: options)
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: JSONNode
    let codingPath: [any CodingKey]
    let options: OrderedJSONEncoder

    private func child(_ key: Key) -> JSONNode {
        node.member(node.isDictionary ? key.stringValue : options.key(key.stringValue))
    }
    private func set(_ kind: JSONNode.Kind, _ key: Key) { child(key).kind = kind }
    private func integer<I: BinaryInteger>(_ value: I, _ key: Key) { set(.number(String(value)), key) }

    mutating func encodeNil(forKey key: Key) throws { set(.null, key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { set(.bool(value), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { set(.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { set(options.number(value), key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { set(options.number(value), key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { integer(value, key) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try encodeValue(value, into: child(key), codingPath: codingPath + [key], options: options)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type,
                                                        forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = child(key)
        nested.becomeObject()
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: nested, codingPath: codingPath + [key],
                                                                options: options))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = child(key)
        nested.becomeArray()
        return UnkeyedContainer(node: nested, codingPath: codingPath + [key], options: options)
    }

    mutating func superEncoder() -> any Encoder {
        NodeEncoder(node: node.member("super"), codingPath: codingPath, options: options)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        NodeEncoder(node: child(key), codingPath: codingPath + [key], options: options)
    }
}

private struct IndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { intValue.map { "Index \($0)" } ?? "" }
    init(_ index: Int) { intValue = index }
    init?(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { return nil }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let node: JSONNode
    let codingPath: [any CodingKey]
    let options: OrderedJSONEncoder
    var count: Int { node.elements.count }

    private func set(_ kind: JSONNode.Kind) { node.appendElement().kind = kind }
    private func integer<I: BinaryInteger>(_ value: I) { set(.number(String(value))) }

    mutating func encodeNil() throws { set(.null) }
    mutating func encode(_ value: Bool) throws { set(.bool(value)) }
    mutating func encode(_ value: String) throws { set(.string(value)) }
    mutating func encode(_ value: Double) throws { set(options.number(value)) }
    mutating func encode(_ value: Float) throws { set(options.number(value)) }
    mutating func encode(_ value: Int) throws { integer(value) }
    mutating func encode(_ value: Int8) throws { integer(value) }
    mutating func encode(_ value: Int16) throws { integer(value) }
    mutating func encode(_ value: Int32) throws { integer(value) }
    mutating func encode(_ value: Int64) throws { integer(value) }
    mutating func encode(_ value: UInt) throws { integer(value) }
    mutating func encode(_ value: UInt8) throws { integer(value) }
    mutating func encode(_ value: UInt16) throws { integer(value) }
    mutating func encode(_ value: UInt32) throws { integer(value) }
    mutating func encode(_ value: UInt64) throws { integer(value) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        let path = codingPath + [IndexKey(count)]
        try encodeValue(value, into: node.appendElement(), codingPath: path, options: options)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
        -> KeyedEncodingContainer<NestedKey> {
        let path = codingPath + [IndexKey(count)]
        let nested = node.appendElement()
        nested.becomeObject()
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: nested, codingPath: path, options: options))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = codingPath + [IndexKey(count)]
        let nested = node.appendElement()
        nested.becomeArray()
        return UnkeyedContainer(node: nested, codingPath: path, options: options)
    }

    mutating func superEncoder() -> any Encoder {
        let path = codingPath + [IndexKey(count)]
        return NodeEncoder(node: node.appendElement(), codingPath: path, options: options)
    }
}

private struct SingleContainer: SingleValueEncodingContainer {
    let node: JSONNode
    let codingPath: [any CodingKey]
    let options: OrderedJSONEncoder

    private func integer<I: BinaryInteger>(_ value: I) { node.kind = .number(String(value)) }

    mutating func encodeNil() throws { node.kind = .null }
    mutating func encode(_ value: Bool) throws { node.kind = .bool(value) }
    mutating func encode(_ value: String) throws { node.kind = .string(value) }
    mutating func encode(_ value: Double) throws { node.kind = options.number(value) }
    mutating func encode(_ value: Float) throws { node.kind = options.number(value) }
    mutating func encode(_ value: Int) throws { integer(value) }
    mutating func encode(_ value: Int8) throws { integer(value) }
    mutating func encode(_ value: Int16) throws { integer(value) }
    mutating func encode(_ value: Int32) throws { integer(value) }
    mutating func encode(_ value: Int64) throws { integer(value) }
    mutating func encode(_ value: UInt) throws { integer(value) }
    mutating func encode(_ value: UInt8) throws { integer(value) }
    mutating func encode(_ value: UInt16) throws { integer(value) }
    mutating func encode(_ value: UInt32) throws { integer(value) }
    mutating func encode(_ value: UInt64) throws { integer(value) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        try encodeValue(value, into: node, codingPath: codingPath, options: options)
    }
}
