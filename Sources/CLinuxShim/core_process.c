/* agent-core: reaping and spawning helpers (see include/core.h). */
#define _GNU_SOURCE
#include "include/core.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

static atomic_int sigchld_fd = -1;
static struct sigaction saved_sigchld;

static void on_sigchld(int sig) {
    (void)sig;
    int saved = errno; /* the interrupted code may be about to read errno */
    int fd = atomic_load(&sigchld_fd);
    if (fd >= 0) {
        char byte = 1;
        ssize_t ignored = write(fd, &byte, 1); /* EAGAIN: a wake-up is already pending */
        (void)ignored;
    }
    errno = saved;
}

int core_sigchld_install(int notify_fd) {
    int expected = -1;
    if (!atomic_compare_exchange_strong(&sigchld_fd, &expected, notify_fd)) return -EBUSY;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_sigchld;
    action.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGCHLD, &action, &saved_sigchld) != 0) {
        int e = errno;
        atomic_store(&sigchld_fd, -1);
        return -e;
    }
    /* A thread that blocked SIGCHLD would never run the handler; unblock it here at least. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    return 0;
}

int core_sigchld_restore(void) {
    if (atomic_load(&sigchld_fd) < 0) return 0;
    if (sigaction(SIGCHLD, &saved_sigchld, NULL) != 0) return -errno;
    atomic_store(&sigchld_fd, -1);
    return 0;
}

int core_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags) == 0 ? 0 : -errno;
}

int core_pidfd_open(pid_t pid) {
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
}

int core_set_child_subreaper(int on) {
    return prctl(PR_SET_CHILD_SUBREAPER, (unsigned long)on, 0UL, 0UL, 0UL) == 0 ? 0 : -errno;
}

int core_finit_module(int fd, const char *params, int flags) {
    return syscall(SYS_finit_module, fd, params, flags) == 0 ? 0 : -errno;
}

int core_set_controlling_tty(int fd, int steal) {
    return ioctl(fd, TIOCSCTTY, steal) == 0 ? 0 : -errno;
}

int core_reboot(int cmd) {
    return reboot(cmd) == 0 ? 0 : -errno;
}

int core_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
               const struct core_spawn_action *actions, int action_count, int close_from,
               const char *cwd, int session, pid_t pgroup) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc != 0) return -rc;
    rc = posix_spawnattr_init(&attr);
    if (rc != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return -rc;
    }
    for (int i = 0; i < action_count && rc == 0; i++) {
        switch (actions[i].kind) {
        case CORE_SPAWN_DUP2:
            rc = posix_spawn_file_actions_adddup2(&fa, actions[i].fd, actions[i].new_fd);
            break;
        case CORE_SPAWN_CLOSE:
            rc = posix_spawn_file_actions_addclose(&fa, actions[i].fd);
            break;
        default:
            rc = EINVAL;
        }
    }
    if (rc == 0 && close_from >= 0) rc = posix_spawn_file_actions_addclosefrom_np(&fa, close_from);
    if (rc == 0 && cwd != NULL) rc = posix_spawn_file_actions_addchdir_np(&fa, cwd);

    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (session == CORE_SPAWN_SETSID) flags |= POSIX_SPAWN_SETSID;
    if (session == CORE_SPAWN_PGROUP) {
        flags |= POSIX_SPAWN_SETPGROUP;
        if (rc == 0) rc = posix_spawnattr_setpgroup(&attr, pgroup);
    }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (rc == 0) rc = posix_spawnattr_setflags(&attr, flags);
    if (rc == 0) rc = posix_spawn(pid, path, &fa, &attr, argv, envp);

    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? 0 : -rc;
}
