#ifndef CLINUXSHIM_CORE_H
#define CLINUXSHIM_CORE_H
/* agent-core: process reaping, spawning, init duties and kernel modules.
   Every function returns a non-negative value on success and -errno on failure, so Swift
   never reads a thread-local errno after other runtime code may have clobbered it. */
#include <stdint.h>
#include <sys/types.h>

/* Installs a SIGCHLD handler (SA_RESTART | SA_NOCLDSTOP) that writes one byte to
   `notify_fd` (a non-blocking pipe) per signal. Only one may be installed: -EBUSY otherwise. */
int core_sigchld_install(int notify_fd);

/* Restores the SIGCHLD disposition saved by core_sigchld_install. */
int core_sigchld_restore(void);

/* pipe2(2): fds[0] read end, fds[1] write end. */
int core_pipe2(int fds[2], int flags);

/* pidfd_open(2). */
int core_pidfd_open(pid_t pid);

/* prctl(PR_SET_CHILD_SUBREAPER, on). */
int core_set_child_subreaper(int on);

/* finit_module(2); flags e.g. MODULE_INIT_COMPRESSED_FILE (4). */
int core_finit_module(int fd, const char *params, int flags);

/* ioctl(fd, TIOCSCTTY, steal). */
int core_set_controlling_tty(int fd, int steal);

/* reboot(2) with the given LINUX_REBOOT_CMD_* (RB_POWER_OFF = 0x4321fedc). */
int core_reboot(int cmd);

/* Sets IFF_UP on the interface `name` (SIOCGIFFLAGS/SIOCSIFFLAGS on an AF_INET socket). */
int core_link_up(const char *name);

/* mount(2) / umount2(2) / sethostname(2), returning -errno. */
int core_mount(const char *source, const char *target, const char *fstype, unsigned long flags,
               const char *data);
int core_umount(const char *target, int flags);
int core_sethostname(const char *name, size_t length);

/* unshare(2) for the calling thread (tests run root-only bodies in private namespaces). */
int core_unshare(int flags);

/* One posix_spawn file action, applied in order in the child. */
enum core_spawn_action_kind { CORE_SPAWN_DUP2 = 0, CORE_SPAWN_CLOSE = 1 };
struct core_spawn_action {
    int kind;
    int fd;     /* DUP2: source; CLOSE: the fd */
    int new_fd; /* DUP2: target */
};

/* Session handling of a spawned child. */
enum core_spawn_session { CORE_SPAWN_INHERIT = 0, CORE_SPAWN_SETSID = 1, CORE_SPAWN_PGROUP = 2 };

/* posix_spawn of `path` with NULL-terminated argv/envp. The child starts with default signal
   dispositions and an empty signal mask; `actions` run in order, then (close_from >= 0) every
   fd >= close_from is closed; `cwd` (may be NULL) is entered; session: SETSID starts a new
   session, PGROUP joins process group `pgroup` (0: a new group led by the child).
   Exec failures are returned as -errno (glibc reports them synchronously). */
int core_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
               const struct core_spawn_action *actions, int action_count, int close_from,
               const char *cwd, int session, pid_t pgroup);

#endif
