// Linux process primitives Swift's Glibc module does not import (they need _GNU_SOURCE or
// have no glibc wrapper): closing every inherited descriptor in a spawned child, anonymous
// shared memory, process descriptors, and dying with the parent.
#ifndef POOLFAULT_CPROCESS_SHIM_H
#define POOLFAULT_CPROCESS_SHIM_H
// No _GNU_SOURCE here: it would change struct definitions other modules import from the same
// headers. The two GNU functions are declared by hand (glibc 2.34+ and 2.27+ have them).
#include <fcntl.h>
#include <spawn.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);
extern int memfd_create(const char *name, unsigned int flags);

/// The child closes every descriptor from `lowest` up before exec (glibc ≥ 2.34).
static inline int pf_spawn_closefrom(posix_spawn_file_actions_t *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}

/// An anonymous file in memory (weights shared with browser processes).
static inline int pf_memfd_create(const char *name, unsigned int flags) { return memfd_create(name, flags); }
static inline unsigned int pf_mfd_cloexec(void) { return 1U; /* MFD_CLOEXEC */ }
static inline unsigned int pf_mfd_allow_sealing(void) { return 2U; /* MFD_ALLOW_SEALING */ }

/// Seals a memfd against every change for good: no write (write(2), or a writable shared
/// mapping), no growing, no shrinking, no further seal (F_ADD_SEALS; values from linux/fcntl.h).
static inline int pf_seal_read_only(int fd) { return fcntl(fd, 1033 /* F_ADD_SEALS */, 8 | 4 | 2 | 1); }
/// The seals a memfd holds (F_GET_SEALS), or -1.
static inline int pf_seals(int fd) { return fcntl(fd, 1034 /* F_GET_SEALS */); }
static inline int pf_seal_write(void) { return 8; /* F_SEAL_WRITE */ }

/// A descriptor that becomes readable when the process `pid` exits (Linux ≥ 5.3).
static inline int pf_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

/// Sends `sig` through a pidfd: never to another process that reused the pid.
static inline int pf_pidfd_send_signal(int pidfd, int sig) { return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, (void *)0, 0); }

/// Deliver `sig` to this process when the thread that spawned it exits.
static inline int pf_set_parent_death_signal(int sig) { return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0); }
#endif
