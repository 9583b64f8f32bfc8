/* Why this exists: a kernel that runs the agent from an initramfs leaves PID 1 on "rootfs",
   the namespace's root mount, which pivot_root(2) refuses to move (EINVAL). Containers then
   could only be chrooted, and a container with CAP_SYS_CHROOT escapes a chroot to the guest's
   root. So PID 1 does what switch_root does before anything else runs: copy the initramfs
   into a tmpfs, empty the initramfs (which also frees its memory), move the tmpfs over "/"
   and chroot into it. Every container's pivot_root then works, and what lies beneath the
   container's root is an empty rootfs.
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
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "core_early_init.h"

#define NEW_ROOT "/.kata-root"

static int copy_failed = 0;

/* The running agent binary is most of the image, and its initramfs inode stays in memory
   anyway while PID 1 runs from it: its names in the tmpfs become bind mounts of that inode
   (/proc/self/exe) instead of copies, which saves the copy's time and a second copy's memory. */
#define MAX_EXE_NAMES 4
static struct stat self_exe;
static int have_self_exe = 0;
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

static int copy_regular(const char *from, const char *to, const struct stat *st) {
    int in = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0) return -1;
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0) {
        close(in);
        return -1;
    }
    int result = 0;
    /* In-kernel copy first: one page-cache copy instead of two through a buffer, and the agent
       binary is most of the image (under TCG the copy was a visible part of the boot). */
    off_t left = st->st_size;
    while (left > 0) {
        ssize_t n = sendfile(out, in, NULL, (size_t)left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        left -= n;
    }
    /* sendfile refused (or the file changed size): the rest the plain way. */
    char buffer[65536];
    while (left != 0) {
        ssize_t n = read(in, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            result = -1;
            break;
        }
        if (n == 0) break;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buffer + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                result = -1;
                break;
            }
            done += w;
        }
        if (result != 0) break;
    }
    /* Owner first: chown clears setuid/setgid bits, so the mode goes last. */
    if (result == 0 && (fchown(out, st->st_uid, st->st_gid) != 0 || fchmod(out, st->st_mode & 07777) != 0)) result = -1;
    close(in);
    close(out);
    return result;
}

static int copy_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)ftw;
    if (strcmp(path, "/") == 0) return 0;
    /* The new root and the kernel filesystems mounted so far are not part of the image. */
    if (strcmp(path, NEW_ROOT) == 0 || strcmp(path, "/proc") == 0) return 0;
    char target[PATH_MAX];
    if (snprintf(target, sizeof target, "%s%s", NEW_ROOT, path) >= (int)sizeof target) {
        copy_failed = ENAMETOOLONG;
        return 1;
    }
    int rc = 0;
    switch (type) {
    case FTW_D:
    case FTW_DNR:
        rc = mkdir(target, st->st_mode & 07777);
        if (rc == 0) rc = lchown(target, st->st_uid, st->st_gid);
        if (rc == 0) rc = chmod(target, st->st_mode & 07777);
        break;
    case FTW_SL:
    case FTW_SLN: {
        char link[PATH_MAX];
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n < 0) {
            rc = -1;
            break;
        }
        link[n] = 0;
        rc = symlink(link, target);
        if (rc == 0) rc = lchown(target, st->st_uid, st->st_gid);
        break;
    }
    case FTW_F:
        if (S_ISREG(st->st_mode) && have_self_exe && st->st_dev == self_exe.st_dev && st->st_ino == self_exe.st_ino &&
            exe_name_count < MAX_EXE_NAMES) {
            /* A placeholder to bind over once /proc has moved (bind_exe_names). */
            int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
            rc = fd < 0 ? -1 : 0;
            if (fd >= 0) close(fd);
            if (rc == 0) memcpy(exe_names[exe_name_count++], target, strlen(target) + 1);
        } else if (S_ISREG(st->st_mode)) {
            rc = copy_regular(path, target, st);
        } else {
            rc = mknod(target, st->st_mode, st->st_rdev);
            if (rc == 0) rc = lchown(target, st->st_uid, st->st_gid);
        }
        break;
    default:
        rc = -1;
        errno = EIO;
    }
    if (rc != 0) {
        copy_failed = errno != 0 ? errno : EIO;
        return 1;
    }
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    if (strcmp(path, "/") == 0) return 0;
    if (strncmp(path, NEW_ROOT, strlen(NEW_ROOT)) == 0 || strncmp(path, "/proc", 5) == 0) return 0;
    /* Best effort, as switch_root: whatever stays only costs memory. */
    if (type == FTW_DP) {
        (void)rmdir(path);
    } else {
        (void)unlink(path);
    }
    return 0;
}

/* The first of the binary's names whose bind mount is read-only, as seen from the new root
   (kata_initramfs_read_only_exe); empty when none is. */
static char read_only_exe[PATH_MAX];

/* Binds the running binary over its placeholders; a name that cannot be bound gets a copy
   (the initramfs original still exists at this point). Each bind is then made read-only:
   container inits run from such a name, and a write through their /proc/<pid>/exe fails with
   EROFS (CVE-2019-5736) without the sealed copy of the whole binary an initrd guest needed
   before. A bind that stays writable is harmless: the engine then makes that copy.
   0, or -1 with errno. */
static int bind_exe_names(void) {
    read_only_exe[0] = '\0';
    for (int i = 0; i < exe_name_count; i++) {
        const char *original = exe_names[i] + strlen(NEW_ROOT);
        if (mount(NEW_ROOT "/proc/self/exe", exe_names[i], NULL, MS_BIND, NULL) == 0) {
            if (mount(NULL, exe_names[i], NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) == 0 &&
                read_only_exe[0] == '\0') {
                snprintf(read_only_exe, sizeof read_only_exe, "%s", original);
            }
            continue;
        }
        if (unlink(exe_names[i]) != 0 || copy_regular(original, exe_names[i], &self_exe) != 0) return -1;
    }
    return 0;
}

const char *kata_initramfs_read_only_exe(void) {
    return read_only_exe[0] == '\0' ? NULL : read_only_exe;
}

int kata_switch_initramfs_root(void) {
    if (!root_is_rootfs()) return 0;
    have_self_exe = stat("/proc/self/exe", &self_exe) == 0;
    exe_name_count = 0;
    if (mkdir(NEW_ROOT, 0755) != 0 && errno != EEXIST) return -errno;
    if (mount("tmpfs", NEW_ROOT, "tmpfs", 0, "mode=0755") != 0) {
        int error = errno;
        (void)rmdir(NEW_ROOT);
        return -error;
    }
    copy_failed = 0;
    /* FTW_MOUNT: stay on the initramfs (the tmpfs and /proc are other filesystems). */
    if (nftw("/", copy_entry, 64, FTW_PHYS | FTW_MOUNT) != 0 || copy_failed != 0) {
        int error = copy_failed != 0 ? copy_failed : (errno != 0 ? errno : EIO);
        (void)umount2(NEW_ROOT, MNT_DETACH);
        (void)rmdir(NEW_ROOT);
        return -error;
    }
    if (mkdir(NEW_ROOT "/proc", 0555) != 0 && errno != EEXIST) {
        int error = errno;
        (void)umount2(NEW_ROOT, MNT_DETACH);
        return -error;
    }
    if (mount("/proc", NEW_ROOT "/proc", NULL, MS_MOVE, NULL) != 0) {
        int error = errno;
        (void)umount2(NEW_ROOT, MNT_DETACH);
        return -error;
    }
    if (bind_exe_names() != 0) {
        /* Undo what can be undone: /proc back, the tmpfs (and any binds in it) away. */
        int error = errno != 0 ? errno : EIO;
        (void)mount(NEW_ROOT "/proc", "/proc", NULL, MS_MOVE, NULL);
        (void)umount2(NEW_ROOT, MNT_DETACH);
        return -error;
    }
    (void)nftw("/", remove_entry, 64, FTW_PHYS | FTW_MOUNT | FTW_DEPTH);
    if (chdir(NEW_ROOT) != 0) return -(errno != 0 ? errno : EIO);
    if (mount(NEW_ROOT, "/", NULL, MS_MOVE, NULL) != 0) {
        /* Past the point of return (the files now live only in the tmpfs): a chroot into
           the tmpfs's root still gives a root that pivot_root accepts. */
        int error = errno;
        if (chroot(NEW_ROOT) != 0 || chdir("/") != 0) return -error;
        return 2;
    }
    if (chroot(".") != 0 || chdir("/") != 0) return -(errno != 0 ? errno : EIO);
    return 1;
}
