// BrowserProtocol: what crosses the socket between poolfault and a browser process (README,
// "Browser processes"; docs/architecture.md, the seam). This target knows no Vulkan, no pool and no model: frames, messages
// and their typed errors, used by both sides.
//
// Contract: a frame is a 4-byte little-endian payload length, then the payload. A length past
// `Frame.maximumPayload` is refused before anything is allocated; a truncated or malformed
// frame is a typed `ProtocolError`, never a trap, and the connection that sent it is closed.

import Foundation

/// A protocol failure: the peer sent something this side cannot take. Closing the connection
/// is the only answer; the process on the other side lives on.
public enum ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A length prefix past the limit (a corrupt or hostile peer).
    case oversized(length: Int, limit: Int)
    /// The stream ended inside a frame.
    case truncated(expected: Int, got: Int)
    /// A payload this version cannot decode.
    case malformed(String)
    /// The peer speaks another protocol version.
    case versionMismatch(peer: UInt16, ours: UInt16)
    /// The peer did not present this run's token.
    case badToken

    public var description: String {
        switch self {
        case let .oversized(length, limit): return "frame of \(length) bytes exceeds the \(limit)-byte limit"
        case let .truncated(expected, got): return "connection ended inside a frame (\(got) of \(expected) bytes)"
        case let .malformed(why): return "malformed message: \(why)"
        case let .versionMismatch(peer, ours): return "peer speaks protocol \(peer), this poolfault speaks \(ours)"
        case .badToken: return "peer did not present this run's token"
        }
    }
}

public enum Frame {
    /// The largest payload: an activation tensor of bert-base at 512 tokens is 1.5 MiB, a ViT's
    /// pixels 0.6 MiB; 64 MiB leaves room without letting a bad length allocate gigabytes.
    public static let maximumPayload = 64 << 20

    /// The frame for `payload`.
    public static func encode(_ payload: Data) -> Data {
        var out = Data(capacity: 4 + payload.count)
        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(payload)
        return out
    }

    /// Splits `buffer` into whole frames; what remains is an incomplete frame (wait for more).
    /// Throws on a length past the limit.
    /// `limit`: the largest payload taken (a connection not yet past its handshake takes a few KiB).
    public static func decode(_ buffer: inout Data, limit: Int = maximumPayload) throws(ProtocolError) -> [Data] {
        var frames: [Data] = []
        while buffer.count >= 4 {
            let start = buffer.startIndex
            let length = buffer[start..<(start + 4)].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            guard length <= limit else { throw .oversized(length: length, limit: limit) }
            guard buffer.count >= 4 + length else { break }
            frames.append(Data(buffer[(start + 4)..<(start + 4 + length)]))
            buffer = Data(buffer[(start + 4 + length)...])
        }
        return frames
    }
}
