#ifndef CLINUXSHIM_CONSOLE_H
#define CLINUXSHIM_CONSOLE_H
/* Debug console, vsock and virtio-serial plumbing (owner: console).
   Every function returns a non-negative value on success and -errno on failure, so Swift
   never reads a thread-local errno after other runtime code may have clobbered it. */
#include <stdint.h>
#include <sys/types.h>

/* Opens a new pseudo-terminal pair, both ends O_CLOEXEC, the slave without becoming a
   controlling terminal. On success *master and *slave hold the fds. */
int console_openpty(int *master, int *slave);

/* Sets the terminal window size of a tty fd (TIOCSWINSZ). */
int console_set_winsize(int fd, uint16_t rows, uint16_t cols);

/* Spawns `path` with argv/envp (NULL-terminated) on `tty_fd`: fork; the child resets signal
   dispositions and mask, optionally starts a new session and makes tty_fd its controlling
   terminal (new_session != 0), dup2s tty_fd to 0/1/2, closes every other fd and execve()s.
   Only async-signal-safe calls run in the child. An exec failure is reported back through
   a close-on-exec pipe, so the caller sees the errno of execve rather than a pid that
   exits 127. Returns the child's pid. */
pid_t console_spawn_on_tty(const char *path, char *const argv[], char *const envp[],
                           int tty_fd, int new_session);

/* AF_VSOCK stream socket bound to (cid, port) and listening; SOCK_CLOEXEC. */
int console_vsock_listen(uint32_t cid, uint32_t port, int backlog);

/* AF_VSOCK stream socket connected to (cid, port); SOCK_CLOEXEC, blocking. */
int console_vsock_connect(uint32_t cid, uint32_t port);

/* pipe2(O_CLOEXEC | O_NONBLOCK): both flags set atomically, so no concurrent fork leaks
   the fds. */
int console_pipe(int fds[2]);

/* accept4(SOCK_CLOEXEC) without the peer address; EINTR is retried. */
int console_accept(int listen_fd);

/* accept4 (close-on-exec) that also reports an AF_VSOCK peer's CID in *vsock_cid
 * (UINT32_MAX for any other family): the fd, or -errno. */
int console_accept_peer(int listen_fd, uint32_t *vsock_cid);

/* Unix stream socket bound to `path` and listening (a leading '@' names an abstract
   socket); SOCK_CLOEXEC. An existing socket file at `path` is not removed. */
int console_unix_listen(const char *path, int backlog);

/* Unix stream socket connected to `path` ('@' prefix: abstract); SOCK_CLOEXEC, blocking. */
int console_unix_connect(const char *path);

/* Waits for a virtio-serial port's host side to connect: a guest port reports EPOLLHUP for
   as long as no host is connected and EPOLLOUT once one is, so this arms EPOLLOUT
   edge-triggered. Returns 1 when the host is there, 2 when stop_fd (may be -1) became
   readable, 0 on timeout (timeout_ms < 0: forever). */
int console_wait_port_writable(int fd, int stop_fd, int timeout_ms);

#endif
