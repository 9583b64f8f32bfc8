#ifndef CLINUXSHIM_CORE_HEAP_H
#define CLINUXSHIM_CORE_HEAP_H
/* agent-core: the C allocator's own controls, which Swift's Glibc module does not export. */

#include <stddef.h>

/* malloc_trim(0): returns free memory of every arena to the kernel. 1 if any was returned. */
int core_heap_trim(void);

/* mallopt's M_TRIM_THRESHOLD and M_MMAP_THRESHOLD (fixed values: glibc's on-the-fly raising
 * of both stops). 0 on success, -1 if glibc refused either. */
int core_heap_set_thresholds(size_t trim, size_t mmap);

/* mallinfo2 over every arena: bytes the heaps hold from the kernel and bytes in blocks of
 * their own mappings. */
void core_heap_usage(size_t *heap, size_t *mapped);

#endif
