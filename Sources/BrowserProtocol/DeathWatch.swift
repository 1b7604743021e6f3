import CProcess
import Foundation

/// Learns of a browser process's death the moment it begins, not when it ends. Why: a killed
/// process's sockets close, and waitpid returns, only after the kernel has torn its address
/// space down (20–50 ms for a bert-base browser on lavapipe); the kernel releases the robust
/// futexes a dying thread holds *before* that teardown. So each browser process locks a robust,
/// process-shared mutex in a page of shared memory at start and holds it for life; a pool
/// thread waiting on it gets EOWNERDEAD as soon as the holder dies — a crash seen in
/// microseconds, by the same mechanism robust mutexes give any process sharing memory.
public final class DeathWatch: @unchecked Sendable {  // the mutex lives in shared memory
    /// The memfd holding the mutex (handed to the worker as a descriptor).
    public let descriptor: Int32
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private static let size = 4096

    public init() throws {
        let fd = pf_memfd_create("poolfault-deathwatch", pf_mfd_cloexec())
        guard fd >= 0, ftruncate(fd, off_t(Self.size)) == 0,
              let page = mmap(nil, Self.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), page != MAP_FAILED else {
            let why = String(cString: strerror(errno))
            if fd >= 0 { close(fd) }
            throw ConnectionError.system(stage: "death watch page (\(why))", errno: errno)
        }
        descriptor = fd
        mutex = page.bindMemory(to: pthread_mutex_t.self, capacity: 1)
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_setpshared(&attributes, Int32(PTHREAD_PROCESS_SHARED))
        pthread_mutexattr_setrobust(&attributes, Int32(PTHREAD_MUTEX_ROBUST))
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutex), Self.size)
        closeDescriptor()
    }

    private var closed = false
    /// Closes the memfd once the worker has its copy (the mapping stays): a pool that respawns
    /// a browser many times must not collect descriptors.
    public func closeDescriptor() {
        guard !closed else { return }
        closed = true
        close(descriptor)
    }

    /// Waits (on a thread of its own) for the holder to die; `onDeath` runs then. Start it only
    /// once the worker holds the mutex (after its welcome), or this thread would take it first.
    public func watch(_ label: String, onDeath: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            let result = pthread_mutex_lock(mutex)
            if result == EOWNERDEAD {
                onDeath()
                pthread_mutex_consistent(mutex)
            }
            if result == 0 || result == EOWNERDEAD { pthread_mutex_unlock(mutex) }
        }
        thread.name = "death watch \(label)"
        thread.start()
    }

    /// The worker's side: takes the mutex for the life of the process. Call from the thread
    /// that lives longest (the main thread: a thread's exit releases what it holds).
    public static func hold(descriptor: Int32) -> Bool {
        guard let page = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0), page != MAP_FAILED else { return false }
        return pthread_mutex_lock(page.bindMemory(to: pthread_mutex_t.self, capacity: 1)) == 0
    }
}
