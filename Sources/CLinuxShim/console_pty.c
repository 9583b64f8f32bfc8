/* Pseudo-terminal helpers for the debug console (owner: console). */
#define _GNU_SOURCE
#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

int console_openpty(int *master, int *slave) {
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) return -errno;
    if (unlockpt(m) != 0) {
        int e = errno;
        close(m);
        return -e;
    }
    /* TIOCGPTPEER opens the peer through the master itself, so it works even when the
       devpts instance seen through /dev/pts is not the one /dev/ptmx belongs to. */
    int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) {
        char name[128];
        if (ptsname_r(m, name, sizeof name) != 0) {
            int e = errno;
            close(m);
            return -e;
        }
        s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (s < 0) {
            int e = errno;
            close(m);
            return -e;
        }
    }
    *master = m;
    *slave = s;
    return 0;
}

int console_set_winsize(int fd, uint16_t rows, uint16_t cols) {
    struct winsize ws = { .ws_row = rows, .ws_col = cols, .ws_xpixel = 0, .ws_ypixel = 0 };
    if (ioctl(fd, TIOCSWINSZ, &ws) != 0) return -errno;
    return 0;
}
