#ifndef CLINUXSHIM_ENGINE_H
#define CLINUXSHIM_ENGINE_H
/* engine-core: starting container init processes and the few syscalls Swift cannot make
   directly. Functions return >= 0 on success and -errno on failure. */
#include <stdint.h>
#include <sys/types.h>

/* How to start one `kata-agent init` process. */
struct engine_spawn_config {
    int exe_fd;            /* executable to run with execveat(AT_EMPTY_PATH) (sealed memfd) */
    char *const *argv;     /* NULL-terminated */
    char *const *envp;     /* NULL-terminated */
    int stdin_fd;          /* becomes fd 0; -1: /dev/null */
    int stdout_fd;         /* becomes fd 1; -1: /dev/null */
    int stderr_fd;         /* becomes fd 2; -1: /dev/null */
    int sync_fd;           /* becomes fd 3 (the init's socket to the agent) */
    unsigned long clone_flags; /* CLONE_NEW* namespaces the child is created in */
    int pidns_fd;          /* >= 0: the child is created in this pid namespace */
    const char *uid_map;   /* CLONE_NEWUSER: written to the child's uid_map before it execs */
    const char *gid_map;   /* CLONE_NEWUSER: written to the child's gid_map */
};

/* Clones a child (fork-like, with clone_flags) that only rearranges fds, resets signal
   dispositions and the mask, and execs. Returns the pid, or -errno (the child's exec error
   included: it is reported through a CLOEXEC pipe before this returns). With CLONE_NEWUSER
   the parent writes the id maps first and the child becomes the namespace's root before the
   exec, so the exec keeps its capabilities in the new namespace. */
pid_t engine_spawn(const struct engine_spawn_config *config);

/* engine_spawn's clone without the exec when exe_fd < 0: returns 0 in the child once its fds
   are in place (0-2 stdio, 3 sync, nothing else) and the pid in the parent, with *child_err
   set to the errno of a failed child setup (the child then exits; the caller reaps it).
   `extra_flags` is ORed into the clone flags (the zygote's CLONE_PARENT). Only for a
   single-threaded caller when the child goes on running its code (the zygote). */
pid_t engine_clone_prepared(const struct engine_spawn_config *config, unsigned long extra_flags, int *child_err);

/* socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC). */
int engine_seqpacket_pair(int fds[2]);

/* Agent side of the init zygote: asks the zygote on `control` to clone an init with the
   config's namespaces, fds and id maps (exe_fd, argv and envp are unused). Returns the pid of
   the new child (the caller's own, through CLONE_PARENT; register it under the reaper's lock)
   or -errno; a child that failed its setup is collected here. *zygote_failed is 1 when the
   request could not be delivered (the zygote is gone: fall back to engine_spawn) and 2 when it
   was but no answer came (dead or stuck after reading it: fail this launch, as a clone may
   hold its fds). */
pid_t engine_zygote_spawn(int control, const struct engine_spawn_config *config, int *zygote_failed);

/* Zygote side: serves requests on `control` until it closes. Returns 0 in each cloned child
   (single-threaded, fds 0-2 stdio and 3 the sync socket: run the init) and -errno in the
   zygote when it must exit. */
int engine_zygote_serve(int control);

/* In a zygote's clone: turns its argv[1] `arg` ("init-zygote") into "init", so the container's
   init reads `kata-agent init` in ps and /proc/<pid>/cmdline like a re-executed one. */
void engine_zygote_child_rename(char *arg);

/* A sealed (write/grow/shrink/seal) CLOEXEC memfd copy of the file at `path`. */
int engine_sealed_copy(const char *path);

/* Closes every fd >= `from` except `keep` (-1 for none). */
int engine_close_fds_from(int from, int keep);

/* setns(fd, nstype). */
int engine_setns(int fd, int nstype);

/* unshare(flags). */
int engine_unshare(int flags);

/* mount(2). */
int engine_mount(const char *source, const char *target, const char *fstype,
                 unsigned long flags, const char *data);

/* openat2(dirfd, path, {O_PATH | O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS}): the
 * fd, or -errno. Every symlink and ".." is resolved as if dirfd were "/", so nothing leaves
 * that tree. */
int engine_openat2_in_root(int dirfd, const char *path);

/* open(path, O_PATH | O_DIRECTORY | O_CLOEXEC): the fd, or -errno. */
int engine_open_path_directory(const char *path);

/* open(path, O_PATH | O_CLOEXEC): the fd, or -errno. */
int engine_open_path(const char *path);

/* pivot_root(2). */
int engine_pivot_root(const char *new_root, const char *put_old);

/* prctl(option, arg2, 0, 0, 0). */
int engine_prctl(int option, unsigned long arg2);

/* ioctl(fd, TIOCSCTTY, 0). */
int engine_set_ctty(int fd);

/* ioctl(fd, TIOCSWINSZ) with rows/cols. */
int engine_set_winsize(int fd, unsigned short rows, unsigned short cols);

/* fcntl(fd, F_SETPIPE_SZ, size): the resulting size. */
int engine_set_pipe_size(int fd, int size);

/* openpty: master and slave (both CLOEXEC), optional initial size (0 = leave). */
int engine_openpty(int *master, int *slave, unsigned short rows, unsigned short cols);

/* execve(path, argv, envp): returns only on failure. */
int engine_execve(const char *path, char *const argv[], char *const envp[]);

/* setgroups/setresgid/setresuid without glibc's all-threads broadcast (init is single-threaded). */
int engine_setgroups(int count, const uint32_t *gids);
int engine_setresgid(uint32_t gid);
int engine_setresuid(uint32_t uid);

/* mknod(path, mode, makedev(major, minor)). */
int engine_mknod(const char *path, uint32_t mode, uint32_t major, uint32_t minor);

/* prlimit(pid, resource, {soft, hard}, NULL). */
int engine_prlimit(pid_t pid, int resource, uint64_t soft, uint64_t hard);

/* socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC). */
int engine_socketpair(int fds[2]);

/* SO_RCVTIMEO on a socket, in milliseconds. */
int engine_set_recv_timeout(int fd, int milliseconds);

#endif
