import Foundation

/// A named float32 tensor as it crosses the socket (activations only; weights never cross):
/// "hidden", "pooled", "attention_mask", and for a shard that starts with the embeddings the
/// input ("input_ids", "token_type_ids" as exact small integers, or "pixel_values").
public struct WireTensor: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]
    public init(name: String = "", shape: [Int], values: [Float]) { self.name = name; self.shape = shape; self.values = values }
}

/// One timed step of a worker's start, on the machine's monotonic clock (CLOCK_MONOTONIC,
/// which every process shares), so the pool can place it on its own timeline.
public struct WireStep: Sendable, Equatable {
    public var name: String
    /// Start, nanoseconds of CLOCK_MONOTONIC.
    public var startNanos: UInt64
    public var seconds: Double
    public init(name: String, startNanos: UInt64, seconds: Double) { self.name = name; self.startNanos = startNanos; self.seconds = seconds }

    /// CLOCK_MONOTONIC now, in nanoseconds.
    public static var monotonicNanos: UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }
}

/// Why a request failed on the worker, as the pool needs to tell faults from bugs.
public enum WireFailure: UInt8, Sendable, Equatable {
    case deviceLost = 1, queueLost, timeout, componentMissing, invalidRequest, internalError
    /// A check on the device caught a wrong answer or wrong weights (silent data corruption);
    /// the message says which check, where and what it saw.
    case corruption
}

/// Every message of protocol version `Message.version`. Requests carry an id the reply echoes.
public enum Message: Sendable, Equatable {
    /// First frame from the pool: the version it speaks and the run's token.
    case hello(version: UInt16, token: String)
    /// The worker's answer: who it is, which context this connection serves, what it runs on,
    /// and how its start went (steps; empty on a reconnection).
    case welcome(version: UInt16, pid: Int32, context: String, device: String, deviceIdentity: String, deviceSerial: UInt64,
                 startup: [WireStep], compute: String)
    /// Upload the weights of these components (ids such as "layer3.attention").
    case load(id: UInt64, components: [String])
    case unload(id: UInt64, components: [String])
    /// Run these components on the activation state (named tensors, see `WireTensor`).
    case run(id: UInt64, components: [String], tensors: [WireTensor])
    case heartbeat(id: UInt64, deadlineMicros: UInt64)
    /// The heartbeat's answer: a dispatch ran on the context's queue, and these components are
    /// loaded there (how the pool learns a component is gone without running it).
    case alive(id: UInt64, components: [String])
    /// Fault control (not serving): drop a component's buffers, start a dispatch that hangs, or
    /// corrupt a component's weights in device memory.
    case faultControl(id: UInt64, action: String, argument: String)
    /// Digest every weight held on the context's device and compare with the source's.
    case scrub(id: UInt64)
    case ok(id: UInt64, bytes: UInt64, seconds: Double)
    case ran(id: UInt64, tensors: [WireTensor])
    case failed(id: UInt64, failure: WireFailure, message: String)
    /// A reply that is a report (fault control's account of what it did), as JSON text.
    case note(id: UInt64, text: String)
    /// A scrub's result: one finding per tensor that differs from the source (each as
    /// `CorruptionFinding.wire`), the bytes read and how long it took.
    case scrubbed(id: UInt64, findings: [String], bytes: UInt64, seconds: Double)

    /// 2: scrub, note, scrubbed and the corruption failure.
    public static let version: UInt16 = 2

    private enum Tag: UInt8 { case hello = 1, welcome, load, unload, run, heartbeat, faultControl, ok, ran, failed, alive, scrub, note, scrubbed }

    public func encoded() -> Data {
        var w = WireWriter()
        switch self {
        case let .hello(version, token): w.byte(Tag.hello.rawValue); w.u16(version); w.string(token)
        case let .welcome(version, pid, context, device, identity, serial, startup, compute):
            w.byte(Tag.welcome.rawValue); w.u16(version); w.u32(UInt32(bitPattern: pid)); w.string(context); w.string(device)
            w.string(identity); w.u64(serial); w.steps(startup); w.string(compute)
        case let .load(id, components): w.byte(Tag.load.rawValue); w.u64(id); w.strings(components)
        case let .unload(id, components): w.byte(Tag.unload.rawValue); w.u64(id); w.strings(components)
        case let .run(id, components, tensors):
            w.byte(Tag.run.rawValue); w.u64(id); w.strings(components); w.tensors(tensors)
        case let .heartbeat(id, deadline): w.byte(Tag.heartbeat.rawValue); w.u64(id); w.u64(deadline)
        case let .alive(id, components): w.byte(Tag.alive.rawValue); w.u64(id); w.strings(components)
        case let .faultControl(id, action, argument): w.byte(Tag.faultControl.rawValue); w.u64(id); w.string(action); w.string(argument)
        case let .ok(id, bytes, seconds): w.byte(Tag.ok.rawValue); w.u64(id); w.u64(bytes); w.u64(seconds.bitPattern)
        case let .ran(id, tensors): w.byte(Tag.ran.rawValue); w.u64(id); w.tensors(tensors)
        case let .failed(id, failure, message): w.byte(Tag.failed.rawValue); w.u64(id); w.byte(failure.rawValue); w.string(message)
        case let .scrub(id): w.byte(Tag.scrub.rawValue); w.u64(id)
        case let .note(id, text): w.byte(Tag.note.rawValue); w.u64(id); w.string(text)
        case let .scrubbed(id, findings, bytes, seconds):
            w.byte(Tag.scrubbed.rawValue); w.u64(id); w.strings(findings); w.u64(bytes); w.u64(seconds.bitPattern)
        }
        return w.data
    }

    public init(decoding payload: Data) throws(ProtocolError) {
        var r = WireReader(payload)
        guard let tag = Tag(rawValue: try r.byte()) else { throw .malformed("unknown message tag") }
        switch tag {
        case .hello: self = .hello(version: try r.u16(), token: try r.string())
        case .welcome:
            self = .welcome(version: try r.u16(), pid: Int32(bitPattern: try r.u32()), context: try r.string(), device: try r.string(),
                            deviceIdentity: try r.string(), deviceSerial: try r.u64(), startup: try r.steps(),
                            compute: try r.string())
        case .load: self = .load(id: try r.u64(), components: try r.strings())
        case .unload: self = .unload(id: try r.u64(), components: try r.strings())
        case .run: self = .run(id: try r.u64(), components: try r.strings(), tensors: try r.tensors())
        case .heartbeat: self = .heartbeat(id: try r.u64(), deadlineMicros: try r.u64())
        case .alive: self = .alive(id: try r.u64(), components: try r.strings())
        case .faultControl: self = .faultControl(id: try r.u64(), action: try r.string(), argument: try r.string())
        case .ok: self = .ok(id: try r.u64(), bytes: try r.u64(), seconds: Double(bitPattern: try r.u64()))
        case .ran: self = .ran(id: try r.u64(), tensors: try r.tensors())
        case .failed:
            let id = try r.u64()
            guard let failure = WireFailure(rawValue: try r.byte()) else { throw .malformed("unknown failure kind") }
            self = .failed(id: id, failure: failure, message: try r.string())
        case .scrub: self = .scrub(id: try r.u64())
        case .note: self = .note(id: try r.u64(), text: try r.string())
        case .scrubbed: self = .scrubbed(id: try r.u64(), findings: try r.strings(), bytes: try r.u64(), seconds: Double(bitPattern: try r.u64()))
        }
        guard r.atEnd else { throw .malformed("\(r.remaining) trailing bytes after a \(tag) message") }
    }
}

#if _endian(big)
#error("the wire format is little-endian and tensors are copied as they lie in memory")
#endif

/// Little-endian primitives, appended.
struct WireWriter {
    var data = Data()
    mutating func byte(_ v: UInt8) { data.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func string(_ s: String) { let bytes = Array(s.utf8); u32(UInt32(bytes.count)); data.append(contentsOf: bytes) }
    mutating func strings(_ list: [String]) { u32(UInt32(list.count)); for s in list { string(s) } }
    mutating func tensor(_ t: WireTensor) {
        string(t.name)
        u32(UInt32(t.shape.count)); for d in t.shape { u64(UInt64(d)) }
        u32(UInt32(t.values.count))
        // Activations are ~10^5 floats per shard: one copy, not one append per value (the
        // host is little-endian, as the wire is; checked at compile time below).
        t.values.withUnsafeBytes { data.append(contentsOf: $0) }
    }
    mutating func tensors(_ list: [WireTensor]) { u32(UInt32(list.count)); for t in list { tensor(t) } }
    mutating func steps(_ list: [WireStep]) {
        u32(UInt32(list.count))
        for s in list { string(s.name); u64(s.startNanos); u64(s.seconds.bitPattern) }
    }
}

/// Little-endian primitives, read with every count checked against what is left, so a
/// malformed payload is a typed error and never a huge allocation or an out-of-bounds read.
struct WireReader {
    private let bytes: [UInt8]
    private var at = 0
    init(_ data: Data) { bytes = [UInt8](data) }

    var remaining: Int { bytes.count - at }
    var atEnd: Bool { at == bytes.count }

    mutating func take(_ n: Int) throws(ProtocolError) -> ArraySlice<UInt8> {
        guard n >= 0, n <= remaining else { throw .malformed("needs \(n) more bytes, \(remaining) left") }
        defer { at += n }
        return bytes[at..<(at + n)]
    }

    mutating func integer(_ size: Int) throws(ProtocolError) -> UInt64 {
        try take(size).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    mutating func byte() throws(ProtocolError) -> UInt8 { UInt8(try integer(1)) }
    mutating func u16() throws(ProtocolError) -> UInt16 { UInt16(try integer(2)) }
    mutating func u32() throws(ProtocolError) -> UInt32 { UInt32(try integer(4)) }
    mutating func u64() throws(ProtocolError) -> UInt64 { try integer(8) }

    /// A count of items of at least `itemSize` bytes each: no more than could still follow.
    mutating func count(itemSize: Int) throws(ProtocolError) -> Int {
        let n = Int(try u32())
        guard n <= remaining / max(itemSize, 1) else { throw .malformed("a count of \(n) cannot fit in \(remaining) bytes") }
        return n
    }

    mutating func string() throws(ProtocolError) -> String {
        let n = try count(itemSize: 1)
        guard let s = String(bytes: try take(n), encoding: .utf8) else { throw .malformed("a string is not UTF-8") }
        return s
    }

    mutating func strings() throws(ProtocolError) -> [String] {
        let n = try count(itemSize: 4)
        var out: [String] = []
        for _ in 0..<n { out.append(try string()) }
        return out
    }

    mutating func tensor() throws(ProtocolError) -> WireTensor {
        let name = try string()
        let rank = try count(itemSize: 8)
        var shape: [Int] = []
        for _ in 0..<rank {
            let d = try u64()
            guard d <= UInt64(Frame.maximumPayload) else { throw .malformed("a dimension of \(d)") }
            shape.append(Int(d))
        }
        let n = try count(itemSize: 4)
        guard shape.reduce(1, { $0.multipliedReportingOverflow(by: $1).partialValue }) == n else {
            throw .malformed("a tensor of shape \(shape) with \(n) values")
        }
        let raw = try take(n * 4)
        let values = [Float](unsafeUninitializedCapacity: n) { buffer, initialized in
            raw.withUnsafeBytes { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: $0) }
            initialized = n
        }
        return WireTensor(name: name, shape: shape, values: values)
    }

    mutating func tensors() throws(ProtocolError) -> [WireTensor] {
        let n = try count(itemSize: 12)
        var out: [WireTensor] = []
        for _ in 0..<n { out.append(try tensor()) }
        return out
    }

    mutating func steps() throws(ProtocolError) -> [WireStep] {
        let n = try count(itemSize: 20)
        var out: [WireStep] = []
        for _ in 0..<n { out.append(WireStep(name: try string(), startNanos: try u64(), seconds: Double(bitPattern: try u64()))) }
        return out
    }
}
