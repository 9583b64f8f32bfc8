/* Why this exists: a kernel that runs the agent from an initramfs leaves PID 1 on "rootfs",
   the namespace's root mount, which pivot_root(2) refuses to move (EINVAL: it has no parent).
   Containers then could only be chrooted, and a container with CAP_SYS_CHROOT escapes a chroot
   to the guest's root. So PID 1 first puts a bind mount of the initramfs over "/" and chroots
   into it: the same files, but as a mount with a parent, which every container's pivot_root
   accepts. Nothing is copied (switch_root's copy into a tmpfs cost a visible part of the boot
   under TCG, and memory while both copies existed); what lies beneath that bind is the same
   initramfs, out of every pivoted container's reach.
   Runs from the priority-101 constructor (core_early_init.c), single-threaded, before the
   Swift runtime exists: libc only. Any failure before the move leaves the root as it was
   (the container engine then refuses to fall back to chroot). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core_early_init.h"

#define NEW_ROOT "/.kata-root"

/* The running agent binary's names get read-only bind mounts of its own inode
   (/proc/self/exe): container inits run from one of them (bind_exe_names). */
#define MAX_EXE_NAMES 4
static struct stat self_exe;
static char exe_names[MAX_EXE_NAMES][PATH_MAX];
static int exe_name_count = 0;

/* 1 when "/" is the initial rootfs (fstype "rootfs" in mountinfo), 0 otherwise or unknown. */
static int root_is_rootfs(void) {
    FILE *file = fopen("/proc/self/mountinfo", "re");
    if (file == NULL) return 0;
    char line[1024];
    int found = 0;
    while (fgets(line, sizeof line, file) != NULL) {
        /* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - FSTYPE SOURCE SUPER" */
        char root[PATH_MAX], point[PATH_MAX];
        if (sscanf(line, "%*d %*d %*s %4095s %4095s", root, point) != 2) continue;
        if (strcmp(point, "/") != 0) continue;
        const char *separator = strstr(line, " - ");
        found = separator != NULL && strncmp(separator + 3, "rootfs ", 7) == 0;
    }
    fclose(file);
    return found;
}

/* Records the names the running binary has in the initramfs (hard links: the template's
   /sbin/init and /init, say), as paths under the new root. */
static int find_exe_name(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)ftw;
    if (type == FTW_F && S_ISREG(st->st_mode) && st->st_dev == self_exe.st_dev && st->st_ino == self_exe.st_ino &&
        exe_name_count < MAX_EXE_NAMES &&
        snprintf(exe_names[exe_name_count], PATH_MAX, "%s%s", NEW_ROOT, path) < PATH_MAX) {
        exe_name_count++;
    }
    return 0;
}

/* The first of the binary's names whose bind mount is read-only, as seen from the new root
   (kata_initramfs_read_only_exe); empty when none is. */
static char read_only_exe[PATH_MAX];

/* Binds the running binary over each of its names and makes the bind read-only: container
   inits run from such a name, and a write through their /proc/<pid>/exe fails with EROFS
   (CVE-2019-5736) without the sealed copy of the whole binary an initrd guest needed before.
   A name that cannot be bound stays the writable original, which is harmless: the engine then
   makes that copy. */
static void bind_exe_names(void) {
    read_only_exe[0] = '\0';
    for (int i = 0; i < exe_name_count; i++) {
        if (mount(NEW_ROOT "/proc/self/exe", exe_names[i], NULL, MS_BIND, NULL) != 0) continue;
        if (mount(NULL, exe_names[i], NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) == 0 && read_only_exe[0] == '\0') {
            snprintf(read_only_exe, sizeof read_only_exe, "%s", exe_names[i] + strlen(NEW_ROOT));
        }
    }
}

const char *kata_initramfs_read_only_exe(void) {
    return read_only_exe[0] == '\0' ? NULL : read_only_exe;
}

int kata_switch_initramfs_root(void) {
    if (!root_is_rootfs()) return 0;
    exe_name_count = 0;
    /* FTW_MOUNT: names on the initramfs only (not under /proc). */
    if (stat("/proc/self/exe", &self_exe) == 0) (void)nftw("/", find_exe_name, 64, FTW_PHYS | FTW_MOUNT);
    if (mkdir(NEW_ROOT, 0755) != 0 && errno != EEXIST) return -errno;
    /* Not recursive: /proc is moved in below rather than bound twice. */
    if (mount("/", NEW_ROOT, NULL, MS_BIND, NULL) != 0) {
        int error = errno;
        (void)rmdir(NEW_ROOT);
        return -error;
    }
    if (mount("/proc", NEW_ROOT "/proc", NULL, MS_MOVE, NULL) != 0) {
        int error = errno;
        (void)umount2(NEW_ROOT, MNT_DETACH);
        (void)rmdir(NEW_ROOT);
        return -error;
    }
    bind_exe_names();
    if (chdir(NEW_ROOT) == 0 && mount(NEW_ROOT, "/", NULL, MS_MOVE, NULL) == 0) {
        if (chroot(".") != 0 || chdir("/") != 0) return -(errno != 0 ? errno : EIO);
        /* The mount point the bind left: an empty directory of the initramfs, seen from both. */
        (void)rmdir(NEW_ROOT);
        return 1;
    }
    /* The bind is a mount with a parent where it stands, so a chroot into it still gives a
       root that pivot_root accepts. */
    int error = errno != 0 ? errno : EIO;
    if (chroot(NEW_ROOT) == 0 && chdir("/") == 0) return 2;
    (void)chdir("/");
    (void)mount(NEW_ROOT "/proc", "/proc", NULL, MS_MOVE, NULL);
    (void)umount2(NEW_ROOT, MNT_DETACH);
    (void)rmdir(NEW_ROOT);
    return -error;
}
