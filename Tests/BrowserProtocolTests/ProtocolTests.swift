import Foundation
import Testing
@testable import BrowserProtocol

/// The wire format both sides share: every message survives a round trip, and any byte string
/// either decodes or gives a typed `ProtocolError` — never a trap, a hang or a huge allocation.
@Suite struct ProtocolTests {
    static let tensor = WireTensor(name: "hidden", shape: [1, 3, 2], values: [0, -1.5, .pi, 1e-30, -0, 42])
    static let messages: [Message] = [
        .hello(version: Message.version, token: "3f9a…run-token"),
        .welcome(version: 1, pid: 4242, context: "chrome-2", device: "llvmpipe (LLVM 15.0.6, 512 bits)", deviceIdentity: "00112233-4455",
                 deviceSerial: 7, startup: [WireStep(name: "device_creation", startNanos: 123_456_789, seconds: 0.004)],
                 compute: "texel GEMM 33x16"),
        .load(id: 1, components: ["embeddings", "layer0.attention", "layer0.feed_forward"]),
        .unload(id: 2, components: []),
        .run(id: 3, components: ["layer1.attention"], tensors: [tensor]),
        .run(id: 4, components: ["pooler"], tensors: [tensor, WireTensor(name: "pooled", shape: [1, 2], values: [1, 2])]),
        .heartbeat(id: 5, deadlineMicros: 2_000_000),
        .alive(id: 5, components: ["layer0.attention", "layer0.feed_forward"]),
        .faultControl(id: 6, action: "drop_component", argument: "layer2.attention"),
        .ok(id: 7, bytes: 9_455_616, seconds: 0.0123),
        .ran(id: 8, tensors: [tensor]),
        .failed(id: 9, failure: .componentMissing, message: "layer2.attention is not loaded on chrome"),
    ]

    // Test that every message decodes to itself, through a frame.
    @Test(arguments: messages) func aMessageSurvivesARoundTrip(_ message: Message) throws {
        var stream = Frame.encode(message.encoded())
        let frames = try Frame.decode(&stream)
        #expect(frames.count == 1 && stream.isEmpty)
        #expect(try Message(decoding: frames[0]) == message)
    }

    // Test that frames split across reads come out whole and in order.
    @Test func framesArriveWholeWhateverTheReadSizes() throws {
        let all = Self.messages.reduce(Data()) { $0 + Frame.encode($1.encoded()) }
        var generator = SystemRandomNumberGenerator()
        for chunk in [1, 3, 7, 64, 1000] {
            var buffer = Data(), decoded: [Message] = []
            var offset = 0
            while offset < all.count {
                let n = min(chunk + Int.random(in: 0...2, using: &generator), all.count - offset)
                buffer.append(all[offset..<(offset + n)])
                offset += n
                for frame in try Frame.decode(&buffer) { decoded.append(try Message(decoding: frame)) }
            }
            #expect(decoded == Self.messages && buffer.isEmpty, "chunk \(chunk)")
        }
    }

    // Test that an oversized length is refused before anything is allocated.
    @Test func anOversizedLengthIsATypedError() {
        var buffer = Data([0xFF, 0xFF, 0xFF, 0x7F, 1, 2, 3])
        #expect(throws: ProtocolError.oversized(length: 0x7FFF_FFFF, limit: Frame.maximumPayload)) { try Frame.decode(&buffer) }
    }

    // Test that truncated payloads and trailing bytes are typed errors.
    @Test(arguments: messages) func truncatedOrPaddedPayloadsAreTypedErrors(_ message: Message) {
        let payload = message.encoded()
        for cut in 0..<payload.count {
            #expect(throws: ProtocolError.self) { try Message(decoding: payload.prefix(cut)) }
        }
        #expect(throws: ProtocolError.self) { try Message(decoding: payload + Data([0])) }
    }

    // Test that random bytes (seeded, 20,000 payloads) never trap: they decode or throw ProtocolError.
    @Test(arguments: [1, 2, 3] as [UInt64]) func randomBytesNeverTrap(seed: UInt64) {
        var state = seed &* 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var decoded = 0, refused = 0
        for _ in 0..<20_000 {
            let length = Int(next() % 96)
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: next()) }
            // Mostly valid tags, so decoding gets past the first byte.
            if !bytes.isEmpty { bytes[0] = UInt8(1 + next() % 11) }
            do { _ = try Message(decoding: Data(bytes)); decoded += 1 } catch { refused += 1 }
        }
        #expect(decoded + refused == 20_000 && refused > 0)
    }

    // Test that a tensor whose shape and value count disagree is refused.
    @Test func aTensorWithTheWrongCountIsRefused() {
        var w = WireWriter()
        w.byte(9); w.u64(1)  // .ran, id 1
        w.u32(2); w.u64(2); w.u64(3)  // shape [2, 3]
        w.u32(5); for _ in 0..<5 { w.u32(0) }  // 5 values
        w.byte(0)
        #expect(throws: ProtocolError.self) { try Message(decoding: w.data) }
    }
}
