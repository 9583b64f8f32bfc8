/* Why this exists: libswiftCore's backtracer initialiser (a C++ static initialiser, default
   priority) needs the runtime's own path; in a static executable that comes from
   /proc/self/exe, and without /proc it aborts with "Unable to obtain Swift runtime path"
   before main. A kernel that starts the agent as PID 1 from an initrd has not mounted /proc.
   A priority-101 constructor runs before every default-priority initialiser (the linker
   orders .init_array.00101 ahead of the plain .init_array), so PID 1 mounts proc here with
   the same flags as the agent's init mounts; those skip a target already carrying its
   filesystem type. Only libc calls: nothing Swift exists yet. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core_early_init.h"

static int early_init_result = 0;
static int switch_result = 0;
static long switch_microseconds = 0;

static long started_boottime_microseconds = 0;

static long clock_microseconds(clockid_t clock) {
    struct timespec now;
    if (clock_gettime(clock, &now) != 0) return 0;
    return now.tv_sec * 1000000L + now.tv_nsec / 1000;
}

__attribute__((constructor(101)))
static void kata_early_init(void) {
    started_boottime_microseconds = clock_microseconds(CLOCK_BOOTTIME);
    if (getpid() != 1 || access("/proc/self", F_OK) == 0) {
        return;
    }
    if (mkdir("/proc", 0555) != 0 && errno != EEXIST) {
        early_init_result = -errno;
    } else if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
        early_init_result = -errno;
    } else {
        early_init_result = 1;
        long start = clock_microseconds(CLOCK_MONOTONIC);
        switch_result = kata_switch_initramfs_root();
        switch_microseconds = clock_microseconds(CLOCK_MONOTONIC) - start;
        return;
    }
    /* proc could not be mounted: without it the runtime aborts, so turn the backtracer off
       instead (it then never asks for the runtime path). An explicit setting is kept. */
    setenv("SWIFT_BACKTRACE", "enable=no,swift-backtrace=/nonexistent", 0);
}

/* 1 when this process mounted /proc early, 0 when nothing was needed, -errno on failure. */
int kata_early_init_done(void) {
    return early_init_result;
}

/* 1: a bind mount of the initramfs root was moved over "/"; 2: chrooted into that bind (the
   move failed); 0: nothing to do; -errno: failed, the root is as the kernel left it. */
int kata_initramfs_switch_result(void) {
    return switch_result;
}

/* CLOCK_BOOTTIME when the process's first constructor ran, in microseconds. */
long kata_started_boottime_microseconds(void) {
    return started_boottime_microseconds;
}

/* How long the switch took, in microseconds. */
long kata_initramfs_switch_microseconds(void) {
    return switch_microseconds;
}
