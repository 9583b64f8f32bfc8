/* engine-core: container init spawning (see include/engine.h).
   The child of the clone runs only async-signal-safe syscalls: the agent is multithreaded,
   so nothing between clone and exec may take a lock or touch Swift. */
#define _GNU_SOURCE
#include "include/engine.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE 2
#endif

static void child_fail(int errpipe, int err) {
    ssize_t ignored = write(errpipe, &err, sizeof err);
    (void)ignored;
    _exit(127);
}

static int move_high(int fd, int errpipe) {
    if (fd < 0) {
        fd = open("/dev/null", O_RDWR);
        if (fd < 0) child_fail(errpipe, errno);
    }
    int high = fcntl(fd, F_DUPFD, 64);
    if (high < 0) child_fail(errpipe, errno);
    return high;
}

/* The child's half, shared by engine_spawn and the zygote (engine_zygote.c): default signal
   dispositions and mask, stdio on 0-2, the sync socket on 3, the executable (if any) on 4, the
   error pipe on 5, nothing else; with a user namespace, wait for the id maps and become its
   root. Returns the error pipe (fd 5) once everything is in place. */
static int child_prepare(const struct engine_spawn_config *c, int errpipe, int gopipe) {
    /* Handlers and ignored signals (SIGPIPE) of the agent must not leak into the container.
       The raw syscall, because glibc's sigaction refuses its internal signals 32 and 33, and
       an ignored one would stay ignored in the workload across its exec. */
    struct { void *handler; unsigned long flags; void *restorer; unsigned long mask; } dfl = {SIG_DFL, 0, NULL, 0};
    for (int sig = 1; sig < 65; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        (void)syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
    }
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);

    /* errpipe itself must not be clobbered by the dup2s below. */
    int ep = fcntl(errpipe, F_DUPFD_CLOEXEC, 64);
    if (ep < 0) child_fail(errpipe, errno);
    errpipe = ep;
    int in = move_high(c->stdin_fd, errpipe);
    int out = move_high(c->stdout_fd, errpipe);
    int err = move_high(c->stderr_fd, errpipe);
    int sync = move_high(c->sync_fd, errpipe);
    int exe = c->exe_fd >= 0 ? move_high(c->exe_fd, errpipe) : -1;
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0 || dup2(sync, 3) < 0) child_fail(errpipe, errno);
    if (exe >= 0 && (dup2(exe, 4) < 0 || fcntl(4, F_SETFD, FD_CLOEXEC) < 0)) child_fail(errpipe, errno);
    if (dup2(errpipe, 5) < 0 || fcntl(5, F_SETFD, FD_CLOEXEC) < 0) child_fail(errpipe, errno);
    errpipe = 5;
    if (gopipe >= 0) {
        if (dup2(gopipe, 6) < 0 || fcntl(6, F_SETFD, FD_CLOEXEC) < 0) child_fail(errpipe, errno);
        gopipe = 6;
    }
    if (exe < 0) close(4);
    if (syscall(SYS_close_range, gopipe >= 0 ? 7U : 6U, ~0U, 0U) < 0) child_fail(errpipe, errno);
    if (gopipe >= 0) {
        /* Wait for the parent's id maps, then become the namespace's root: an exec by an
           unmapped uid would drop every capability in the new namespace. */
        char go;
        ssize_t n;
        do {
            n = read(gopipe, &go, 1);
        } while (n < 0 && errno == EINTR);
        if (n != 1) child_fail(errpipe, EPIPE);
        close(gopipe);
        if (syscall(SYS_setresgid, 0, 0, 0) != 0) child_fail(errpipe, errno);
        if (syscall(SYS_setresuid, 0, 0, 0) != 0) child_fail(errpipe, errno);
    }
    return errpipe;
}

static void child_exec(const struct engine_spawn_config *c, int errpipe) {
    syscall(SYS_execveat, 4, "", c->argv, c->envp, AT_EMPTY_PATH);
    child_fail(errpipe, errno);
}

struct spawn_job {
    const struct engine_spawn_config *config;
    pid_t result;
};

static int write_map(pid_t pid, const char *name, const char *text) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int e = errno;
    close(fd);
    return n == (ssize_t)len ? 0 : (n < 0 ? -e : -EIO);
}

pid_t engine_clone_prepared(const struct engine_spawn_config *c, unsigned long extra_flags, int *child_err) {
    int pipefd[2];
    int gofd[2] = {-1, -1};
    int userns = (c->clone_flags & CLONE_NEWUSER) != 0;
    *child_err = 0;
    if (pipe2(pipefd, O_CLOEXEC) != 0) return -errno;
    if (userns && pipe2(gofd, O_CLOEXEC) != 0) {
        int e = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return -e;
    }
    long pid = syscall(SYS_clone, (unsigned long)SIGCHLD | c->clone_flags | extra_flags, NULL, NULL, NULL, 0);
    if (pid < 0) {
        int e = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        if (userns) { close(gofd[0]); close(gofd[1]); }
        return -e;
    }
    if (pid == 0) {
        close(pipefd[0]);
        if (userns) close(gofd[1]);
        int errpipe = child_prepare(c, pipefd[1], userns ? gofd[0] : -1);
        if (c->exe_fd >= 0) child_exec(c, errpipe);
        /* No exec: closing the pipe is the parent's "ready". */
        close(errpipe);
        return 0;
    }
    close(pipefd[1]);
    if (userns) {
        close(gofd[0]);
        int rc = write_map((pid_t)pid, "uid_map", c->uid_map ? c->uid_map : "");
        if (rc == 0) rc = write_map((pid_t)pid, "gid_map", c->gid_map ? c->gid_map : "");
        if (rc == 0) {
            char go = 1;
            if (write(gofd[1], &go, 1) != 1) rc = -errno;
        }
        close(gofd[1]);
        if (rc != 0) {
            kill((pid_t)pid, SIGKILL);
            close(pipefd[0]);
            *child_err = -rc;
            return (pid_t)pid;
        }
    }
    int err = 0;
    ssize_t n;
    do {
        n = read(pipefd[0], &err, sizeof err);
    } while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n == (ssize_t)sizeof err) *child_err = err != 0 ? err : EIO;
    return (pid_t)pid;
}

static pid_t do_spawn(const struct engine_spawn_config *c) {
    int child_err = 0;
    pid_t pid = engine_clone_prepared(c, 0, &child_err);
    if (pid > 0 && child_err != 0) {
        /* The child never ran anything; collect it here (the caller holds the reaper's
           lock, so no reaper races this waitpid) and report only the error. */
        int status;
        while (waitpid(pid, &status, __WALL) < 0 && errno == EINTR) {}
        return -child_err;
    }
    return pid;
}

static void *spawn_in_pidns(void *arg) {
    struct spawn_job *job = arg;
    /* setns of a pid namespace only changes this thread's pid_for_children, and this
       thread ends right after the clone. */
    if (setns(job->config->pidns_fd, CLONE_NEWPID) != 0) {
        job->result = -errno;
        return NULL;
    }
    job->result = do_spawn(job->config);
    return NULL;
}

pid_t engine_spawn(const struct engine_spawn_config *config) {
    if (config->pidns_fd < 0) return do_spawn(config);
    struct spawn_job job = {config, -EINVAL};
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, spawn_in_pidns, &job);
    if (rc != 0) return -rc;
    pthread_join(thread, NULL);
    return job.result;
}

int engine_sealed_copy(const char *path) {
    int src = open(path, O_RDONLY | O_CLOEXEC);
    if (src < 0) return -errno;
    struct stat st;
    if (fstat(src, &st) != 0) {
        int e = errno;
        close(src);
        return -e;
    }
    int mfd = memfd_create("kata-agent", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0) {
        int e = errno;
        close(src);
        return -e;
    }
    off_t left = st.st_size;
    while (left > 0) {
        ssize_t n = sendfile(mfd, src, NULL, (size_t)left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            close(src);
            close(mfd);
            return -e;
        }
        left -= n;
    }
    close(src);
    if (fchmod(mfd, 0555) != 0 ||
        fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0) {
        int e = errno;
        close(mfd);
        return -e;
    }
    return mfd;
}
