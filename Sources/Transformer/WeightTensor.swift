// WeightTensor: an immutable fp32 tensor whose floats live either in memory we allocated
// (seeded, converted or copied weights) or in place inside a memory-mapped safetensors file.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Owner of a tensor's floats. Written once before it is wrapped, read-only afterwards, so
/// sharing it between threads is safe (hence @unchecked Sendable).
final class TensorStorage: @unchecked Sendable {
    let pointer: UnsafePointer<Float>
    let count: Int
    /// Keeps a mapped file alive while its floats are in use; nil for owned allocations.
    private let owner: AnyObject?
    let ownsAllocation: Bool

    /// Takes ownership of `allocation` (from `UnsafeMutablePointer<Float>.allocate`).
    init(taking allocation: UnsafeMutablePointer<Float>, count: Int) {
        pointer = UnsafePointer(allocation)
        self.count = count
        owner = nil
        ownsAllocation = true
    }

    /// Floats inside a mapped region owned by `owner` (4-byte aligned by the caller).
    init(borrowing pointer: UnsafePointer<Float>, count: Int, owner: AnyObject) {
        self.pointer = pointer
        self.count = count
        self.owner = owner
        ownsAllocation = false
    }

    /// Allocates `count` floats, lets `fill` write them, and wraps them.
    static func make(count: Int, fill: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows -> TensorStorage {
        let allocation = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        do {
            try fill(UnsafeMutableBufferPointer(start: allocation, count: count))
        } catch {
            allocation.deallocate()
            throw error
        }
        return TensorStorage(taking: allocation, count: count)
    }

    deinit {
        if ownsAllocation { UnsafeMutablePointer(mutating: pointer).deallocate() }
    }
}

/// A read-only fp32 tensor, row-major, with its HF name and shape.
public struct WeightTensor: Sendable {
    public let name: String
    public let shape: [Int]
    let storage: TensorStorage

    init(name: String, shape: [Int], storage: TensorStorage) {
        self.name = name
        self.shape = shape
        self.storage = storage
    }

    /// Element count (product of the shape).
    public var count: Int { storage.count }
    public var byteCount: Int { storage.count * MemoryLayout<Float>.size }
    /// True when the floats are read in place from a memory-mapped file (no copy).
    public var isMapped: Bool { !storage.ownsAllocation }

    /// Calls `body` with the floats. The pointer is valid only inside `body`.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try withExtendedLifetime(storage) {
            try body(UnsafeBufferPointer(start: storage.pointer, count: storage.count))
        }
    }

    /// A copy of the floats.
    public func toArray() -> [Float] { withUnsafeBufferPointer { Array($0) } }
}

/// A file mapped read-only into memory for the lifetime of this object.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    private let mapping: UnsafeMutableRawPointer?

    /// Maps `path`. A missing file is `.missingFile`; anything else the OS refuses is
    /// `.unreadable`. An empty file maps to an empty buffer.
    public init(path: String, what: String) throws {
        self.path = path
        // O_NONBLOCK: a FIFO in place of the file must fail the regular-file check, not hang.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw ModelDataError.missingFile(path: path, what: what) }
            throw ModelDataError.unreadable(path: path, reason: String(cString: strerror(code)))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw ModelDataError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw ModelDataError.unreadable(path: path, reason: "not a regular file")
        }
        let size = Int(info.st_size)
        guard size > 0 else {
            mapping = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), address != MAP_FAILED else {
            throw ModelDataError.unreadable(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        mapping = address
        bytes = UnsafeRawBufferPointer(start: address, count: size)
    }

    deinit {
        if let mapping { munmap(mapping, bytes.count) }
    }
}

extension WeightTensor {
    /// The largest weight magnitude poolfault takes. Trained BERT/ViT weights stay within ±50;
    /// a value past this bound (or NaN, ±Inf) is a corrupt file, and it would overflow float32
    /// somewhere in the forward, so the GPU and CPU paths would "differ" for no fault of theirs.
    public static let magnitudeLimit: Float = 1e4

    /// The first element that is not finite or exceeds `magnitudeLimit`, with its index.
    public func firstValueOutOfRange() -> (index: Int, value: Float)? {
        withUnsafeBufferPointer { values in
            for i in values.indices where !(abs(values[i]) <= WeightTensor.magnitudeLimit) { return (i, values[i]) }
            return nil
        }
    }
}
