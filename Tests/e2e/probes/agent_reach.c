/* Tries, from inside a container, every way the agent can listen: vsock to the loopback CID
   (1) and to the guest's own CID on the given ports, and every abstract unix socket listed in
   /proc/net/unix (containers share the agent's network namespace, where those live).

   A listener is "reached" when a connection both opens and answers: the agent refusing a
   peer accepts at the kernel level and closes at once, so connect() alone proves nothing.
   On each connection the probe sends a line a shell would echo and a ttrpc Health.Check
   frame, then waits up to two seconds for any byte back.

   Usage: agent_reach PORT...   Prints "<target> reached|refused|absent" lines, then "DONE". */
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char *answered(int fd) {
    /* A shell line, then a ttrpc request frame: grpc.Health/Check on stream 1. */
    static const unsigned char check[] = {
        0, 0, 0, 24, 0, 0, 0, 1, 1, 0,
        0x0a, 11, 'g', 'r', 'p', 'c', '.', 'H', 'e', 'a', 'l', 't', 'h',
        0x12, 5, 'C', 'h', 'e', 'c', 'k', 0x1a, 0, 0x20, 0,
    };
    const char line[] = "echo o''k-$((6*7))\n";
    if (write(fd, line, sizeof line - 1) < 0 && errno != EPIPE) return "refused";
    if (write(fd, check, sizeof check) < 0 && errno != EPIPE) return "refused";
    struct pollfd p = { .fd = fd, .events = POLLIN };
    for (;;) {
        int n = poll(&p, 1, 2000);
        if (n == 0) return "refused";          /* open but silent: nothing served it */
        if (n < 0) {
            if (errno == EINTR) continue;
            return "refused";
        }
        char buffer[256];
        ssize_t got = read(fd, buffer, sizeof buffer);
        return got > 0 ? "reached" : "refused";
    }
}

static void try_vsock(unsigned cid, unsigned port) {
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        printf("vsock %u:%u absent (%s)\n", cid, port, strerror(errno));
        return;
    }
    struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        printf("vsock %u:%u absent (%s)\n", cid, port, strerror(errno));
    } else {
        printf("vsock %u:%u %s\n", cid, port, answered(fd));
    }
    close(fd);
}

static void try_abstract(const char *name) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    size_t length = strlen(name);
    if (length >= sizeof addr.sun_path) length = sizeof addr.sun_path - 1;
    memcpy(addr.sun_path + 1, name, length);
    socklen_t size = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + length);
    if (connect(fd, (struct sockaddr *)&addr, size) != 0) {
        printf("abstract @%s absent (%s)\n", name, strerror(errno));
    } else {
        printf("abstract @%s %s\n", name, answered(fd));
    }
    close(fd);
}

int main(int argc, char **argv) {
    unsigned own = 0;
    int dev = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
    if (dev >= 0) {
        ioctl(dev, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &own);
        close(dev);
    }
    for (int i = 1; i < argc; i++) {
        unsigned port = (unsigned)strtoul(argv[i], NULL, 10);
        try_vsock(VMADDR_CID_LOCAL, port);
        if (own > 2) try_vsock(own, port);
    }
    FILE *table = fopen("/proc/net/unix", "r");
    if (table != NULL) {
        char row[512];
        while (fgets(row, sizeof row, table) != NULL) {
            char *at = strchr(row, '@');
            if (at == NULL) continue;
            at[strcspn(at, "\n")] = 0;
            try_abstract(at + 1);
        }
        fclose(table);
    }
    printf("DONE\n");
    return 0;
}
