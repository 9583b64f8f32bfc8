#ifndef CLINUXSHIM_STORAGE_H
#define CLINUXSHIM_STORAGE_H
#include <stdint.h>

/* Storage area (Sandbox/Storage): calls Glibc's Swift module does not export. */

/* statfs(2) figures of the filesystem holding `path`. */
struct storage_fs_stats {
    uint64_t block_size;
    uint64_t blocks;
    uint64_t blocks_free;
    uint64_t blocks_available;
    uint64_t inodes;
    uint64_t inodes_free;
};

/* statfs(path); 0 or -errno. */
int storage_statfs(const char *path, struct storage_fs_stats *out);

/* swapon(path, flags); 0 or -errno. */
int storage_swapon(const char *path, int flags);

#endif
