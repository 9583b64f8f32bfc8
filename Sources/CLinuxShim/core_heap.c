#include "core_heap.h"

#include <limits.h>
#include <malloc.h>

int core_heap_trim(void) {
    return malloc_trim(0);
}

int core_heap_set_thresholds(size_t trim, size_t mmap) {
    if (trim > INT_MAX || mmap > INT_MAX) return -1;
    if (mallopt(M_TRIM_THRESHOLD, (int)trim) != 1) return -1;
    if (mallopt(M_MMAP_THRESHOLD, (int)mmap) != 1) return -1;
    return 0;
}

void core_heap_usage(size_t *heap, size_t *mapped) {
    struct mallinfo2 info = mallinfo2();
    *heap = info.arena;
    *mapped = info.hblkhd;
}
