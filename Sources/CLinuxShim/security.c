#define _GNU_SOURCE
#include "include/security.h"
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

long security_bpf(int cmd, void *attr, unsigned int size) {
    return syscall(__NR_bpf, cmd, attr, size);
}

int security_prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4,
                   unsigned long arg5) {
    return prctl(option, arg2, arg3, arg4, arg5);
}

int security_memfd(const char *name) {
    return memfd_create(name, MFD_CLOEXEC);
}
