/* Watches a directory with inotify, as an application watches its configMap, prints "watching"
   once the watch is in place, then the names in the first batch of events (an entry modified,
   written, created or moved in). Exits 0 after that batch, 1 when 60 s pass with none.
   (Debian's busybox-static has no inotifyd applet.) */
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: inotify-watch DIR\n");
        return 2;
    }
    int fd = inotify_init1(IN_CLOEXEC);
    if (fd < 0) {
        perror("inotify_init1");
        return 2;
    }
    if (inotify_add_watch(fd, argv[1], IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO) < 0) {
        perror(argv[1]);
        return 2;
    }
    printf("watching\n");
    fflush(stdout);
    struct pollfd waiting = {.fd = fd, .events = POLLIN};
    if (poll(&waiting, 1, 60000) <= 0) {
        fprintf(stderr, "no event on %s within 60 s\n", argv[1]);
        return 1;
    }
    char buffer[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)] __attribute__((aligned(8)));
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n <= 0) {
        perror("read inotify");
        return 2;
    }
    for (char *at = buffer; at < buffer + n;) {
        const struct inotify_event *event = (const struct inotify_event *)at;
        if (event->len > 0) printf("%s\n", event->name);
        at += sizeof(struct inotify_event) + event->len;
    }
    fflush(stdout);
    return 0;
}
