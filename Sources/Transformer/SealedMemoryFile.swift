// SealedMemoryFile: bytes written once into an anonymous file (a memfd), then sealed against
// every write, shared with other processes as a read-only descriptor.
//
// Why sealed: what poolfault shares this way is what answers are checked against, or what a
// device reads as its weights; a process that could write there would change it for every
// other process too. The seal holds even against a process that reopens the file writable.

import CProcess
import Foundation

public final class SealedMemoryFile: @unchecked Sendable {  // immutable after init
    /// The memfd (close-on-exec: a child gets it only through an explicit dup2), sealed.
    public let descriptor: Int32
    /// The same file opened read-only: what other processes get.
    public let readOnlyDescriptor: Int32
    public let byteCount: Int

    /// A file of `byteCount` zero bytes that `fill` writes through a temporary mapping; sealed
    /// once it returns. `what` names the contents in errors ("the shared weights").
    public init(name: String, byteCount: Int, what: String, fill: (UnsafeMutableRawPointer) throws -> Void) throws {
        let fd = pf_memfd_create(name, pf_mfd_cloexec() | pf_mfd_allow_sealing())
        guard fd >= 0 else { throw ModelDataError.unreadable(path: "memfd", reason: "memfd_create for \(what): \(String(cString: strerror(errno)))") }
        func fail(_ doing: String) -> ModelDataError {
            let why = String(cString: strerror(errno))
            close(fd)
            return ModelDataError.unreadable(path: "memfd", reason: "\(doing) \(what): \(why)")
        }
        guard ftruncate(fd, off_t(byteCount)) == 0,
              let base = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            throw fail("cannot size or map \(byteCount) bytes of shared memory for")
        }
        do {
            try fill(base)
        } catch {
            munmap(base, byteCount)
            close(fd)
            throw error
        }
        munmap(base, byteCount)  // a writable shared mapping would make the write seal fail (EBUSY)
        guard pf_seal_read_only(fd) == 0 else { throw fail("cannot seal against writes") }
        let readOnly = open(Self.path(descriptor: fd), O_RDONLY | O_CLOEXEC)
        guard readOnly >= 0 else { throw fail("cannot reopen read-only") }
        descriptor = fd
        readOnlyDescriptor = readOnly
        self.byteCount = byteCount
    }

    deinit {
        close(descriptor)
        close(readOnlyDescriptor)
    }

    /// Whether the file refuses writes (its seals include F_SEAL_WRITE).
    public var isSealedAgainstWrites: Bool { pf_seals(descriptor) >= 0 && pf_seals(descriptor) & pf_seal_write() != 0 }

    /// A path that opens the memfd `descriptor` of this process (Linux's /proc/self/fd).
    public static func path(descriptor: Int32) -> String { "/proc/self/fd/\(descriptor)" }
}
