/* Storage area: statfs and swapon (see include/storage.h). */
#include "include/storage.h"

#include <errno.h>
#include <sys/statfs.h>
#include <sys/swap.h>

int storage_statfs(const char *path, struct storage_fs_stats *out) {
    struct statfs info;
    if (statfs(path, &info) != 0) return -errno;
    out->block_size = (uint64_t)info.f_bsize;
    out->blocks = (uint64_t)info.f_blocks;
    out->blocks_free = (uint64_t)info.f_bfree;
    out->blocks_available = (uint64_t)info.f_bavail;
    out->inodes = (uint64_t)info.f_files;
    out->inodes_free = (uint64_t)info.f_ffree;
    return 0;
}

int storage_swapon(const char *path, int flags) {
    if (swapon(path, flags) != 0) return -errno;
    return 0;
}
