#include "core_heap.h"

#include <malloc.h>

int core_heap_trim(void) {
    return malloc_trim(0);
}
