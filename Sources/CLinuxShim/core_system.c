/* agent-core: init duties and sandbox syscalls (see include/core.h). */
#define _GNU_SOURCE
#include "include/core.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

int core_link_up(const char *name) {
    if (strlen(name) >= IFNAMSIZ) return -EINVAL;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct ifreq request;
    memset(&request, 0, sizeof request);
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    int rc = 0;
    if (ioctl(fd, SIOCGIFFLAGS, &request) != 0) {
        rc = -errno;
    } else if (!(request.ifr_flags & IFF_UP)) {
        request.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &request) != 0) rc = -errno;
    }
    close(fd);
    return rc;
}

int core_mount(const char *source, const char *target, const char *fstype, unsigned long flags,
               const char *data) {
    return mount(source, target, fstype, flags, data) == 0 ? 0 : -errno;
}

int core_umount(const char *target, int flags) {
    return umount2(target, flags) == 0 ? 0 : -errno;
}

int core_sethostname(const char *name, size_t length) {
    return sethostname(name, length) == 0 ? 0 : -errno;
}

int core_unshare(int flags) {
    return unshare(flags) == 0 ? 0 : -errno;
}
