#ifndef CLINUXSHIM_CORE_HEAP_H
#define CLINUXSHIM_CORE_HEAP_H
/* agent-core: the C allocator's own controls, which Swift's Glibc module does not export. */

/* malloc_trim(0): returns free memory of every arena to the kernel. 1 if any was returned. */
int core_heap_trim(void);

#endif
