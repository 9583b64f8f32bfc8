#ifndef CLINUXSHIM_SECURITY_H
#define CLINUXSHIM_SECURITY_H
/* engine-security: syscalls Swift cannot call directly (variadic prctl/syscall). */
#include <stdint.h>
#include <sys/eventfd.h>

/* bpf(2): returns the syscall result, or -1 with errno. */
long security_bpf(int cmd, void *attr, unsigned int size);

/* prctl(2) with all five arguments spelled out. */
int security_prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4,
                   unsigned long arg5);

/* memfd_create(name, MFD_CLOEXEC): an anonymous file, e.g. to collect a hook's output. */
int security_memfd(const char *name);

#endif
