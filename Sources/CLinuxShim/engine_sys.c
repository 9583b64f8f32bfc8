/* engine-core: thin syscall wrappers for container init (see include/engine.h). */
#define _GNU_SOURCE
#include "include/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <linux/openat2.h>
#include <termios.h>
#include <unistd.h>

int engine_close_fds_from(int from, int keep) {
    if (keep >= from) {
        if (keep > from && syscall(SYS_close_range, (unsigned)from, (unsigned)keep - 1, 0U) != 0) return -errno;
        if (syscall(SYS_close_range, (unsigned)keep + 1, ~0U, 0U) != 0) return -errno;
        return 0;
    }
    return syscall(SYS_close_range, (unsigned)from, ~0U, 0U) == 0 ? 0 : -errno;
}

int engine_setns(int fd, int nstype) { return setns(fd, nstype) == 0 ? 0 : -errno; }

int engine_unshare(int flags) { return unshare(flags) == 0 ? 0 : -errno; }

int engine_mount(const char *source, const char *target, const char *fstype,
                 unsigned long flags, const char *data) {
    return mount(source, target, fstype, flags, data) == 0 ? 0 : -errno;
}

int engine_openat2_in_root(int dirfd, const char *path) {
    struct open_how how = {
        .flags = O_PATH | O_CLOEXEC,
        .mode = 0,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    return fd >= 0 ? (int)fd : -errno;
}

int engine_open_path_directory(const char *path) {
    int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

int engine_open_path(const char *path) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

int engine_pivot_root(const char *new_root, const char *put_old) {
    return syscall(SYS_pivot_root, new_root, put_old) == 0 ? 0 : -errno;
}

int engine_prctl(int option, unsigned long arg2) {
    return prctl(option, arg2, 0UL, 0UL, 0UL) < 0 ? -errno : 0;
}

int engine_set_ctty(int fd) { return ioctl(fd, TIOCSCTTY, 0) == 0 ? 0 : -errno; }

int engine_set_winsize(int fd, unsigned short rows, unsigned short cols) {
    struct winsize ws = {.ws_row = rows, .ws_col = cols};
    return ioctl(fd, TIOCSWINSZ, &ws) == 0 ? 0 : -errno;
}

int engine_set_pipe_size(int fd, int size) {
    int rc = fcntl(fd, F_SETPIPE_SZ, size);
    return rc < 0 ? -errno : rc;
}

int engine_openpty(int *master, int *slave, unsigned short rows, unsigned short cols) {
    struct winsize ws = {.ws_row = rows, .ws_col = cols};
    if (openpty(master, slave, NULL, NULL, (rows || cols) ? &ws : NULL) != 0) return -errno;
    fcntl(*master, F_SETFD, FD_CLOEXEC);
    fcntl(*slave, F_SETFD, FD_CLOEXEC);
    return 0;
}

int engine_execve(const char *path, char *const argv[], char *const envp[]) {
    execve(path, argv, envp);
    return -errno;
}

int engine_setgroups(int count, const uint32_t *gids) {
    return syscall(SYS_setgroups, count, gids) == 0 ? 0 : -errno;
}

int engine_setresgid(uint32_t gid) {
    return syscall(SYS_setresgid, gid, gid, gid) == 0 ? 0 : -errno;
}

int engine_setresuid(uint32_t uid) {
    return syscall(SYS_setresuid, uid, uid, uid) == 0 ? 0 : -errno;
}

int engine_mknod(const char *path, uint32_t mode, uint32_t major, uint32_t minor) {
    return mknod(path, mode, makedev(major, minor)) == 0 ? 0 : -errno;
}

int engine_prlimit(pid_t pid, int resource, uint64_t soft, uint64_t hard) {
    struct rlimit64 limit = {.rlim_cur = soft, .rlim_max = hard};
    return prlimit64(pid, (enum __rlimit_resource)resource, &limit, NULL) == 0 ? 0 : -errno;
}

int engine_socketpair(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0 ? 0 : -errno;
}

int engine_set_recv_timeout(int fd, int milliseconds) {
    struct timeval tv = {.tv_sec = milliseconds / 1000, .tv_usec = (milliseconds % 1000) * 1000};
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0 ? 0 : -errno;
}
