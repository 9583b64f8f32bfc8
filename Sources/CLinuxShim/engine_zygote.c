/* engine-core: the init zygote (see include/engine.h).
   A single-threaded `kata-agent init-zygote` process that has already paid the Swift
   runtime's start-up and first-use costs clones container inits on the agent's behalf
   (CLONE_PARENT: they are the agent's children, reaped by its reaper). Both halves of the
   request protocol live here so they cannot drift apart. */
#define _GNU_SOURCE
#include "include/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define ZYGOTE_MAGIC 0x4b5a5947u /* "KZYG" */
#define ZYGOTE_MAX_MAPS 32768u
#define ZYGOTE_MAX_FDS 5

enum { FD_STDIN = 1, FD_STDOUT = 2, FD_STDERR = 4, FD_SYNC = 8, FD_PIDNS = 16 };

struct zygote_request {
    uint32_t magic;
    uint32_t fd_mask;
    uint64_t clone_flags;
    uint32_t uid_map_len;
    uint32_t gid_map_len;
};

struct zygote_reply {
    int32_t pid;   /* > 0: a child exists (the agent's, to register and reap) */
    int32_t error; /* 0, or the errno of the clone or of the child's setup */
};

static const uint32_t fd_bits[ZYGOTE_MAX_FDS] = {FD_STDIN, FD_STDOUT, FD_STDERR, FD_SYNC, FD_PIDNS};

int engine_seqpacket_pair(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) == 0 ? 0 : -errno;
}

/* ---- agent side ---------------------------------------------------------------------- */

pid_t engine_zygote_spawn(int control, const struct engine_spawn_config *c, int *zygote_failed) {
    *zygote_failed = 0;
    size_t uid_len = c->uid_map ? strlen(c->uid_map) : 0;
    size_t gid_len = c->gid_map ? strlen(c->gid_map) : 0;
    if (uid_len + gid_len > ZYGOTE_MAX_MAPS) return -E2BIG;
    int fds[ZYGOTE_MAX_FDS] = {c->stdin_fd, c->stdout_fd, c->stderr_fd, c->sync_fd, c->pidns_fd};
    struct zygote_request req = {ZYGOTE_MAGIC, 0, c->clone_flags, (uint32_t)uid_len, (uint32_t)gid_len};
    int passed[ZYGOTE_MAX_FDS];
    int count = 0;
    for (int i = 0; i < ZYGOTE_MAX_FDS; i++) {
        if (fds[i] < 0) continue;
        req.fd_mask |= fd_bits[i];
        passed[count++] = fds[i];
    }
    if (!(req.fd_mask & FD_SYNC)) return -EINVAL;
    struct iovec iov[3] = {
        {&req, sizeof req},
        {(void *)(c->uid_map ? c->uid_map : ""), uid_len},
        {(void *)(c->gid_map ? c->gid_map : ""), gid_len},
    };
    union {
        char buf[CMSG_SPACE(sizeof(int) * ZYGOTE_MAX_FDS)];
        struct cmsghdr align;
    } control_buf;
    memset(&control_buf, 0, sizeof control_buf);
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 3};
    msg.msg_control = control_buf.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)count);
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)count);
    memcpy(CMSG_DATA(cmsg), passed, sizeof(int) * (size_t)count);
    ssize_t n;
    do {
        n = sendmsg(control, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        /* Not delivered (the zygote is gone): no child exists, the caller may spawn directly. */
        int e = errno;
        *zygote_failed = 1;
        return -e;
    }
    struct zygote_reply reply;
    do {
        n = recv(control, &reply, sizeof reply, 0);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof reply) {
        /* EOF, a timeout or a short answer: the zygote is unusable, and it may have cloned a
           child that holds this launch's fds (the reaper collects it as an orphan once the
           caller closes them): this launch fails rather than start a second init on them. */
        *zygote_failed = 2;
        return n < 0 ? -errno : -EPIPE;
    }
    if (reply.pid > 0 && reply.error != 0) {
        /* The child failed before running anything: it is ours, collect it (the caller
           holds the reaper's lock) and report the error. */
        int status;
        while (waitpid(reply.pid, &status, __WALL) < 0 && errno == EINTR) {}
        return -reply.error;
    }
    if (reply.pid <= 0) return -(reply.error != 0 ? reply.error : EIO);
    return reply.pid;
}

/* ---- zygote side --------------------------------------------------------------------- */

void engine_zygote_child_rename(char *arg) {
    /* "init-zygote" -> "init" in place, then end the command line there (PR_SET_MM needs
       CAP_SYS_RESOURCE in the initial user namespace; in a new one the padding NULs stay). */
    size_t len = strlen(arg);
    if (len < 4) return;
    memset(arg, 0, len);
    memcpy(arg, "init", 4);
    (void)prctl(PR_SET_MM, PR_SET_MM_ARG_END, (unsigned long)(arg + 5), 0, 0);
}

static void close_all(const int *fds, int count) {
    for (int i = 0; i < count; i++) close(fds[i]);
}

static int answer(int control, int32_t pid, int32_t error) {
    struct zygote_reply reply = {pid, error};
    ssize_t n;
    do {
        n = send(control, &reply, sizeof reply, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof reply ? 0 : -EPIPE;
}

int engine_zygote_serve(int control) {
    int own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
    if (own_pidns < 0) return -errno;
    static char payload[sizeof(struct zygote_request) + ZYGOTE_MAX_MAPS + 2];
    for (;;) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * ZYGOTE_MAX_FDS)];
            struct cmsghdr align;
        } control_buf;
        struct iovec iov = {payload, sizeof payload - 2};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        msg.msg_control = control_buf.buf;
        msg.msg_controllen = sizeof control_buf.buf;
        ssize_t n;
        do {
            n = recvmsg(control, &msg, MSG_CMSG_CLOEXEC);
        } while (n < 0 && errno == EINTR);
        if (n <= 0) {
            close(own_pidns);
            return n == 0 ? -EPIPE : -errno;
        }
        int fds[ZYGOTE_MAX_FDS];
        int count = 0;
        for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
            if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
            size_t k = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int *data = (int *)CMSG_DATA(cmsg);
            for (size_t i = 0; i < k; i++) {
                if (count < ZYGOTE_MAX_FDS) fds[count++] = data[i];
                else close(data[i]);
            }
        }
        struct zygote_request req;
        int bad = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || (size_t)n < sizeof req;
        if (!bad) {
            memcpy(&req, payload, sizeof req);
            bad = req.magic != ZYGOTE_MAGIC || req.uid_map_len > ZYGOTE_MAX_MAPS ||
                  req.gid_map_len > ZYGOTE_MAX_MAPS - req.uid_map_len ||
                  (size_t)n != sizeof req + req.uid_map_len + req.gid_map_len ||
                  __builtin_popcount(req.fd_mask & 31u) != count || (req.fd_mask & ~31u) != 0 ||
                  !(req.fd_mask & FD_SYNC);
        }
        if (bad) {
            close_all(fds, count);
            if (answer(control, 0, EINVAL) != 0) break;
            continue;
        }
        int slots[ZYGOTE_MAX_FDS];
        for (int i = 0, next = 0; i < ZYGOTE_MAX_FDS; i++) slots[i] = (req.fd_mask & fd_bits[i]) ? fds[next++] : -1;
        /* The maps as NUL-terminated strings, moved apart so the uid map's NUL fits. */
        char *uid_map = payload + sizeof req;
        char *gid_map = uid_map + req.uid_map_len + 1;
        memmove(gid_map, uid_map + req.uid_map_len, req.gid_map_len);
        uid_map[req.uid_map_len] = 0;
        gid_map[req.gid_map_len] = 0;
        struct engine_spawn_config config = {
            .exe_fd = -1, .argv = NULL, .envp = NULL,
            .stdin_fd = slots[0], .stdout_fd = slots[1], .stderr_fd = slots[2], .sync_fd = slots[3],
            .clone_flags = (unsigned long)req.clone_flags, .pidns_fd = -1,
            .uid_map = uid_map, .gid_map = gid_map,
        };
        int32_t pid = 0, error = 0;
        if (slots[4] >= 0 && setns(slots[4], CLONE_NEWPID) != 0) {
            error = errno;
        } else {
            int child_err = 0;
            pid_t rc = engine_clone_prepared(&config, CLONE_PARENT, &child_err);
            if (rc == 0) return 0; /* the child: fds 0-3 in place, nothing else open */
            if (rc < 0) error = -rc;
            else { pid = rc; error = child_err; }
            /* Back to our own pid namespace for the next child: setns to the active one is
               always allowed. Failing that, this process must not serve again. */
            if (slots[4] >= 0 && setns(own_pidns, CLONE_NEWPID) != 0) {
                close_all(fds, count);
                (void)answer(control, pid, error);
                break;
            }
        }
        close_all(fds, count);
        if (answer(control, pid, error) != 0) break;
    }
    close(own_pidns);
    return -EPIPE;
}
