/* AF_VSOCK sockets and virtio-serial port readiness (owner: console). */
#define _GNU_SOURCE
#include "console.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

static void vsock_address(struct sockaddr_vm *addr, uint32_t cid, uint32_t port) {
    memset(addr, 0, sizeof *addr);
    addr->svm_family = AF_VSOCK;
    addr->svm_cid = cid;
    addr->svm_port = port;
}

int console_vsock_listen(uint32_t cid, uint32_t port, int backlog) {
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct sockaddr_vm addr;
    vsock_address(&addr, cid, port);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, backlog) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int console_vsock_connect(uint32_t cid, uint32_t port) {
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct sockaddr_vm addr;
    vsock_address(&addr, cid, port);
    int rc;
    do {
        rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int console_wait_port_writable(int fd, int stop_fd, int timeout_ms) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return -errno;
    /* Edge-triggered: EPOLLHUP is reported for as long as no host is connected, so a
       level-triggered wait would spin; the edge only fires again when the port changes. */
    struct epoll_event ev = { .events = EPOLLOUT | EPOLLET, .data.fd = fd };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        int e = errno;
        close(ep);
        return -e;
    }
    if (stop_fd >= 0) {
        struct epoll_event stop = { .events = EPOLLIN, .data.fd = stop_fd };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, stop_fd, &stop) != 0) {
            int e = errno;
            close(ep);
            return -e;
        }
    }
    int result = 0;
    for (;;) {
        struct epoll_event out;
        int n = epoll_wait(ep, &out, 1, timeout_ms);
        if (n < 0) {
            if (errno == EINTR) continue;
            result = -errno;
            break;
        }
        if (n == 0) {
            result = 0;
            break;
        }
        if (stop_fd >= 0 && out.data.fd == stop_fd) {
            result = 2;
            break;
        }
        if (out.events & EPOLLOUT) {
            result = 1;
            break;
        }
        if (out.events & EPOLLERR) {
            result = -EIO;
            break;
        }
    }
    close(ep);
    return result;
}
