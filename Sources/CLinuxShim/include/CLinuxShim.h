#ifndef CLINUXSHIM_H
#define CLINUXSHIM_H
/* C helpers for what Swift cannot do safely: anything that runs between fork and exec,
   variadic ioctls/fcntls, and kernel structs Glibc's module does not export.
   Each concern has its own header, included here. */
#include <stdint.h>
#include <sys/types.h>
#include "console.h"
#include "security.h"
#include "core.h"
#include "engine.h"
#include "core_early_init.h"
#include "storage.h"
#include "core_heap.h"
#endif
