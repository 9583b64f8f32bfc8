/* Fork + exec of a shell on a terminal for the debug console (owner: console).
   Nothing but async-signal-safe calls runs between fork and exec: the parent is a
   multi-threaded Swift process whose locks may be held by other threads at fork time. */
#define _GNU_SOURCE
#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

static void close_fds_from(int first, int keep) {
    /* close_range (Linux 5.9) closes everything at once; older kernels get a bounded loop. */
    if (keep >= first) {
        if (keep > first && syscall(SYS_close_range, (unsigned)first, (unsigned)(keep - 1), 0) != 0) {
            for (int fd = first; fd < keep; fd++) close(fd);
        }
        first = keep + 1;
    }
    if (syscall(SYS_close_range, (unsigned)first, ~0U, 0) != 0) {
        for (int fd = first; fd < 65536; fd++) close(fd);
    }
}

static void child_fail(int errpipe, int err) {
    ssize_t ignored = write(errpipe, &err, sizeof err);
    (void)ignored;
    _exit(127);
}

pid_t console_spawn_on_tty(const char *path, char *const argv[], char *const envp[],
                           int tty_fd, int new_session) {
    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) != 0) return -errno;

    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(errpipe[0]);
        close(errpipe[1]);
        return -e;
    }
    if (pid == 0) {
        /* The agent may block or handle signals (the reaper watches SIGCHLD); a shell must
           start with default dispositions and an empty mask. */
        struct sigaction dfl = { 0 };
        dfl.sa_handler = SIG_DFL;
        for (int sig = 1; sig < NSIG; sig++) {
            if (sig == SIGKILL || sig == SIGSTOP) continue;
            (void)sigaction(sig, &dfl, NULL);
        }
        sigset_t none;
        sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);

        if (new_session) {
            if (setsid() < 0) child_fail(errpipe[1], errno);
            if (ioctl(tty_fd, TIOCSCTTY, 0) != 0) child_fail(errpipe[1], errno);
        }
        /* dup2(fd, fd) would keep O_CLOEXEC, so a tty already on 0..2 is moved up first. */
        int fd = tty_fd;
        if (fd < 3) {
            fd = fcntl(tty_fd, F_DUPFD_CLOEXEC, 3);
            if (fd < 0) child_fail(errpipe[1], errno);
        }
        for (int target = 0; target < 3; target++) {
            if (dup2(fd, target) < 0) child_fail(errpipe[1], errno);
        }
        close_fds_from(3, errpipe[1]);
        execve(path, argv, envp);
        child_fail(errpipe[1], errno);
    }

    close(errpipe[1]);
    int child_errno = 0;
    ssize_t n;
    do {
        n = read(errpipe[0], &child_errno, sizeof child_errno);
    } while (n < 0 && errno == EINTR);
    close(errpipe[0]);
    if (n == (ssize_t)sizeof child_errno) {
        /* The child has exited (or is about to) with 127; its status goes to whoever reaps. */
        return -(child_errno != 0 ? child_errno : ECHILD);
    }
    return pid;
}
