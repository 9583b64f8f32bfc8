/* Unix stream sockets for the console bridges and the serial transport (owner: console). */
#define _GNU_SOURCE
#include "console.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/vm_sockets.h>
#include <unistd.h>

static int unix_address(struct sockaddr_un *addr, socklen_t *len, const char *path) {
    size_t n = strlen(path);
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    if (n == 0 || n >= sizeof addr->sun_path) return -ENAMETOOLONG;
    memcpy(addr->sun_path, path, n);
    if (path[0] == '@') {
        addr->sun_path[0] = '\0';
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

int console_unix_listen(const char *path, int backlog) {
    struct sockaddr_un addr;
    socklen_t len;
    int rc = unix_address(&addr, &len, path);
    if (rc != 0) return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (bind(fd, (struct sockaddr *)&addr, len) != 0 || listen(fd, backlog) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int console_unix_connect(const char *path) {
    struct sockaddr_un addr;
    socklen_t len;
    int rc = unix_address(&addr, &len, path);
    if (rc != 0) return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    do {
        rc = connect(fd, (struct sockaddr *)&addr, len);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int console_pipe(int fds[2]) {
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return -errno;
    return 0;
}

int console_accept_peer(int listen_fd, uint32_t *vsock_cid) {
    struct sockaddr_storage peer;
    socklen_t length;
    int fd;
    do {
        length = sizeof peer;
        fd = accept4(listen_fd, (struct sockaddr *)&peer, &length, SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return -errno;
    *vsock_cid = UINT32_MAX;
    if (peer.ss_family == AF_VSOCK && length >= sizeof(struct sockaddr_vm))
        *vsock_cid = ((struct sockaddr_vm *)&peer)->svm_cid;
    return fd;
}

int console_accept(int listen_fd) {
    int fd;
    do {
        fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}
